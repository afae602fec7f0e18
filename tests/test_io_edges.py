"""Edges of reading inputs and writing outputs: sequence ids count from 1 in every layout, an output place that
cannot be written is the environment's failure (exit 1, one sentence naming it), every read error names the file,
labelled files of one class are refused as they are read, and every output creates the folders it needs (and
removes them again when it is not written). Real files under tmp_path, the real command line (in process through
``zoo.cli.main``, and as a child process where noted); no mocks."""
from __future__ import annotations

import csv
import io
import os

import pytest

from use_models import cli_in_process, run_cli, tiny_saved_model

GOOD = "ACGT" * 15
SEQS = [GOOD[i:] + GOOD[:i] for i in range(8)]
FASTA = "".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS))
PROC = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_saved_model(tmp_path_factory.mktemp("io-edges") / "model", 60, ["absent", "present"])


cli = cli_in_process


def sentence(rc, err, status) -> str:
    """The one line of an error of exit status ``status``."""
    assert rc == status, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and lines[0].startswith("genozoo: error: "), err
    return lines[0]


def ids_of(text: str) -> list[str]:
    return [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]


# ------------------------------------------------------------------------------------------------------ 1. ids
def test_sequences_are_numbered_from_one_in_every_layout(model_dir, tmp_path):
    """A CSV/TSV without an id column numbered its rows from 0 (reads-0, ...), one sequence per line from 1
    (seq1, ...): the first sequence is number 1 in both, a blank row is not a sequence."""
    (tmp_path / "reads.csv").write_text("sequence\n" + f"{SEQS[0]}\n\n{SEQS[1]}\n{SEQS[2]}\n")
    (tmp_path / "reads.tsv").write_text("other\tsequence\n" + "".join(f"x\t{s}\n" for s in SEQS[:3]))
    (tmp_path / "reads.txt").write_text("".join(f"{s}\n" for s in SEQS[:3]))
    for name, expected in (("reads.csv", ["reads-1", "reads-2", "reads-3"]),
                           ("reads.tsv", ["reads-1", "reads-2", "reads-3"]),
                           ("reads.txt", ["seq1", "seq2", "seq3"])):
        rc, out, err = cli("predict", model_dir, name, "-q", cwd=tmp_path)
        assert rc == 0, err
        assert ids_of(out) == expected, (name, out)
    from zoo.data import from_files

    (tmp_path / "labelled.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in
                                                                         enumerate(SEQS)))
    dd = from_files(tmp_path / "labelled.csv", fractions=(0.5, 0.25, 0.25))
    assert sorted(i for s in dd for i in dd[s]["id"]) == sorted(f"labelled-{n}" for n in range(1, 9))


# ---------------------------------------------------------------------------------------- 2. unwritable outputs
@PROC
def test_an_output_that_cannot_be_written_is_an_environment_failure(model_dir, tmp_path):
    """`-o /proc/x.csv` said "'/proc/x.csv' does not exist; check the path" with status 2: the place cannot be
    written, one sentence saying so and why, status 1. A missing input stays status 2."""
    (tmp_path / "in.fa").write_text(FASTA)
    for output in ("/proc/x.csv", "/proc/genozoo-no-such/sub/x.csv"):
        line = sentence(*cli("predict", model_dir, "in.fa", "-o", output, cwd=tmp_path)[::2], 1)
        assert line.startswith(f"genozoo: error: cannot write {output!r}: "), line
        assert "does not exist" not in line, line
    out = run_cli("predict", model_dir, "in.fa", "-o", "/proc/x.csv", cwd=tmp_path)  # the real command
    assert sentence(out.returncode, out.stderr, 1).startswith("genozoo: error: cannot write '/proc/x.csv': ")
    assert "is not a file" in sentence(*cli("predict", model_dir, "nothere.fa", "-o", "p.csv", cwd=tmp_path)[::2], 2)
    # explain writes all its outputs or none: the logo (in a folder it had to create) is not left behind
    line = sentence(*cli("explain", model_dir, "in.fa", "-o", "logos/x.png", "--numbers", "/proc/n.json",
                         cwd=tmp_path)[::2], 1)
    assert "cannot write '/proc/n.json'" in line, line
    assert sorted(os.listdir(tmp_path)) == ["in.fa"]


# -------------------------------------------------------------------------------------------- 3. read errors
@PROC
def test_every_read_error_names_the_file(model_dir, tmp_path):
    """Reading /proc/self/mem (an input/output error at its first byte) gave "cannot use a file" or called the
    file empty: every read error names the file."""
    (tmp_path / "in.fa").write_text(FASTA)
    for argv in (["predict", model_dir, "/proc/self/mem"],
                 ["explain", model_dir, "/proc/self/mem", "-o", "x.png"],
                 ["finetune", model_dir, "--data", "/proc/self/mem", "-o", "ft"],
                 ["finetune", model_dir, "--data", "in.fa", "--labels", "/proc/self/mem", "-o", "ft"],
                 ["data", "report", "--data", "/proc/self/mem"]):
        line = sentence(*cli(*argv, cwd=tmp_path)[::2], 1)
        assert "cannot read '/proc/self/mem'" in line, (argv, line)
    assert sorted(os.listdir(tmp_path)) == ["in.fa"]
    from zoo.data.textio import open_text
    from zoo.errors import classify

    with pytest.raises(OSError) as info:
        with open_text("/proc/self/mem") as fh:
            fh.read()
    message, status = classify(info.value)
    assert message.startswith("cannot read '/proc/self/mem': ") and status == 1


# ------------------------------------------------------------------------------------------ 4. a single class
def test_training_files_refuse_labelled_data_of_one_class_unless_told(model_dir, tmp_path):
    from zoo.data.user import training_files as from_files
    from zoo.errors import UserError

    one = tmp_path / "one.csv"
    one.write_text("sequence,label\n" + "".join(f"{s},pos\n" for s in SEQS * 2))
    two = tmp_path / "two.csv"
    two.write_text("sequence,label\n" + "".join(f"{s},{'pos' if i % 2 else 'neg'}\n" for i, s in enumerate(SEQS * 2)))
    with pytest.raises(UserError, match=r"^the data \(one\.csv\) has a single class, 'pos'; a classifier needs at "
                                        r"least two"):
        from_files(one)
    with pytest.raises(UserError, match=r"the data \(A=one\.csv\) has a single class, 'A'"):
        from_files({"A": one})
    assert len(from_files(one, single_class=True)["train"].features["label"].names) == 1  # the caller says fine
    assert from_files(two, test=one)["test"].num_rows == 16  # a test set of one class beside two-class training
    line = sentence(*cli("bakeoff", "--data", one, "--models", "deepram_conv1d_onehot", "-o", "b",
                         cwd=tmp_path)[::2], 2)
    assert "the data (one.csv) has a single class, 'pos'" in line, line
    line = sentence(*cli("finetune", model_dir, "--data", one, "-o", "ft", cwd=tmp_path)[::2], 2)
    assert "the data (one.csv) has a single class, 'pos'" in line, line
    line = sentence(*cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", one, "--epochs", "1", "--out", "t",
                         cwd=tmp_path)[::2], 2)
    assert "the data (one.csv) has a single class, 'pos'" in line, line
    assert sorted(os.listdir(tmp_path)) == ["one.csv", "two.csv"]


# -------------------------------------------------------------------------------------------- 5. output folders
def test_outputs_create_their_folders_and_remove_them_when_not_written(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    (tmp_path / "bad.fa").write_text(f">ok\n{GOOD}\n>bad\nACGTZZ\n")
    # a refused input leaves neither the output nor the folders made for it
    assert "invalid character" in sentence(*cli("predict", model_dir, "bad.fa", "-o", "new/sub/p.csv",
                                                cwd=tmp_path)[::2], 2)
    assert "invalid character" in sentence(*cli("explain", model_dir, "bad.fa", "-o", "logo/x.png", "--numbers",
                                                "nums/n.json", cwd=tmp_path)[::2], 2)
    assert sorted(os.listdir(tmp_path)) == ["bad.fa", "in.fa"]
    rc, _, err = cli("predict", model_dir, "in.fa", "-o", "new/sub/p.csv", "-q", cwd=tmp_path)
    assert rc == 0, err
    assert ids_of((tmp_path / "new/sub/p.csv").read_text()) == [f"s{i}" for i in range(8)]
    rc, _, err = cli("explain", model_dir, "in.fa", "-o", "logo/a/x.png", "--numbers", "nums/b/n.json",
                     "--filters", "motifs/c/f.meme", "--match", "none", cwd=tmp_path)
    assert rc == 0, err
    for f in ("logo/a/x.png", "nums/b/n.json", "motifs/c/f.meme"):
        assert (tmp_path / f).is_file(), f
    (tmp_path / "tr.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in
                                                                   enumerate(SEQS * 4)))
    rc, _, err = cli("data", "report", "--data", "tr.csv", "--card", "cards/d/card.md", cwd=tmp_path)
    assert rc == 0, err
    assert (tmp_path / "cards/d/card.md").read_text().startswith("---")


def test_an_output_folder_under_a_file_is_refused_before_any_work(model_dir, tmp_path):
    (tmp_path / "tr.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in
                                                                   enumerate(SEQS * 4)))
    for argv in (["finetune", model_dir, "--data", "tr.csv", "-o", "tr.csv/sub/ft"],
                 ["bakeoff", "--data", "tr.csv", "--models", "deepram_conv1d_onehot", "-o", "tr.csv/sub/b"]):
        line = sentence(*cli(*argv, cwd=tmp_path)[::2], 2)
        assert "goes through something that is not a folder" in line, line
    assert sorted(os.listdir(tmp_path)) == ["tr.csv"]


def test_dna_in_blocks_is_refused_by_position_not_as_an_unknown_format(tmp_path):
    """A line of DNA with blanks (blocks of ten, as sequence viewers print it) is one sequence per line whose blank
    is refused by position, the sentence the space gives for the same pasted line."""
    from zoo.data.formats import detect_format
    from zoo.errors import UserError

    (tmp_path / "blocks.txt").write_text("acgtacgtac gtacgtacgt\n")
    assert detect_format(tmp_path / "blocks.txt") == "lines"
    (tmp_path / "words.txt").write_text("hello world\n")
    with pytest.raises(UserError, match="cannot tell the format"):
        detect_format(tmp_path / "words.txt")
