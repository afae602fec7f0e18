"""Users' own data (from_files in every format), the quality report on a set built with planted duplicates and
leakage, the dataset card, and the `genozoo data` commands."""
import gzip
import json
from collections import Counter

import datasets
import pytest

from zoo.cli import main
from zoo.data import FormatError, from_files
from zoo.errors import UserError
from zoo.data.quality import quality_report, report_markdown
from zoo.encoding import reverse_complement

SEQS = ["ACGTACGTAC", "TTTTGGGGCC", "ACGGGATTAC", "GGGCCCAATT", "CATCATCATG", "ATATATGCGC"] * 5
LABELS = ["pos", "neg"] * 15


def _write_fasta(path, header_fmt="{i}|{label}", gz=False):
    text = "".join(f">{header_fmt.format(i=i, label=l)}\n{s[:5]}\n{s[5:]}\n" for i, (s, l) in
                   enumerate(zip(SEQS, LABELS)))
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def _all(dd, col):
    return [v for s in ("train", "validation", "test") for v in dd[s][col]]


@pytest.mark.parametrize("header", ["r{i}|{label}", "r{i} label={label} extra", "r{i} some words {label}"])
def test_fasta_label_in_header(tmp_path, header):
    path = tmp_path / "mine.fa.gz"
    _write_fasta(path, header, gz=True)
    dd = from_files(path)
    assert dd["train"].features["label"].names == ["neg", "pos"]
    assert sorted(_all(dd, "id")) == sorted(f"r{i}" for i in range(30))
    assert [dd[s].num_rows for s in ("train", "validation", "test")] == [21, 5, 4]
    got = dict(zip(_all(dd, "id"), _all(dd, "sequence")))
    assert got["r3"] == SEQS[3]


def test_fasta_with_labels_file_in_order_and_by_id(tmp_path):
    fa = tmp_path / "x.fasta"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)))
    by_order = tmp_path / "labels.txt"
    by_order.write_text("\n".join(LABELS) + "\n")
    by_id = tmp_path / "labels.tsv"
    by_id.write_text("id\tlabel\n" + "".join(f"s{i}\t{l}\n" for i, l in reversed(list(enumerate(LABELS)))))
    for labels in (by_order, by_id):
        dd = from_files(fa, labels=labels, label_names=["pos", "neg"])
        names = dd["test"].features["label"].names
        assert names == ["pos", "neg"]
        for r in dd["test"]:
            assert names[r["label"]] == LABELS[int(r["id"][1:])]
    (tmp_path / "short.txt").write_text("pos\n")
    with pytest.raises(FormatError, match="was read as one label per line.*holds 1 labels, but"):
        from_files(fa, labels=tmp_path / "short.txt")
    with pytest.raises(FormatError, match="no label"):
        from_files(fa)


def test_csv_tsv_uci_zeng_and_train_test_files(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("name,dna,target\n" + "".join(f"n{i},{s},{l}\n" for i, (s, l) in enumerate(zip(SEQS, LABELS))))
    dd = from_files(csv, sequence_column="dna", label_column="target", id_column="name")
    assert sorted(_all(dd, "id")) == sorted(f"n{i}" for i in range(30))
    with pytest.raises(FormatError, match="no column 'seqq'.*name, dna, target"):
        from_files(csv, sequence_column="seqq")
    tsv = tmp_path / "d.tsv"
    tsv.write_text("sequence\tlabel\n" + "".join(f"{s}\t{i % 3}\n" for i, s in enumerate(SEQS)))
    assert from_files(tsv)["train"].features["label"].names == ["0", "1", "2"]
    uci = tmp_path / "splice.data"
    uci.write_text("".join(f"{'EI' if i % 2 else 'N'},   G{i},     {s.replace('A', 'D', 1)}\n"
                           for i, s in enumerate(SEQS)))
    dd = from_files(uci, ambiguity="splice")
    assert all(set(q) <= set("ACGT") for q in _all(dd, "sequence"))
    zeng_train, zeng_test = tmp_path / "train.data", tmp_path / "test.data"
    for path, rng in ((zeng_train, range(30)), (zeng_test, range(10))):
        path.write_text("".join(f">c{i}{'_shuf' if i % 2 else ''} {SEQS[i]} {1 - i % 2}\n" for i in rng))
    dd = from_files(zeng_train, test=zeng_test, validation_fraction=0.2)
    assert [dd[s].num_rows for s in ("train", "validation", "test")] == [24, 6, 10]
    assert all(r["id"].endswith("_shuf") == (r["label"] == 0) for s in dd for r in dd[s])


def test_quality_report_finds_planted_duplicates_and_leakage():
    base = [s * 3 for s in ("ACGTTGCAAG", "TTGACCGATC", "GGCATTACGA", "CATGCATTGA", "AGGTCCATTA", "GTTAACGGAC",
                            "TACGGATCAA", "CCGATTAGCA")]  # 30 bp, distinct, none a reverse complement of another
    assert not set(reverse_complement(base)) & set(base)
    rc = reverse_complement(base)
    feats = datasets.Features({"sequence": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"]),
                               "id": datasets.Value("string")})

    def ds(seqs, labels):
        return datasets.Dataset.from_dict({"sequence": seqs, "label": labels,
                                           "id": [str(i) for i in range(len(seqs))]}, features=feats)

    dd = datasets.DatasetDict({
        # train: base[0] three times (2 exact duplicates, labels agree), base[1] twice with different labels
        # (1 duplicate, 1 conflicting sequence), rc of base[2] beside base[2] (2 RC rows), a palindrome
        "train": ds([base[0], base[0], base[0], base[1], base[1], base[2], rc[2], "ACGT" * 5, base[6]],
                    [0, 0, 0, 0, 1, 1, 1, 0, 1]),
        # validation: an exact copy of a train row and the RC of a train row
        "validation": ds([base[0], rc[6], base[3]], [0, 1, 0]),
        # test: lowercase copy of a validation row (reported upper case), one new row with N
        "test": ds([base[3].lower(), base[4][:10] + "NN" + base[4][12:], base[5]], [0, 1, 1]),
    })
    r = quality_report(dd, "planted")
    tr = r["splits"]["train"]
    assert (tr["exact_duplicates"], tr["conflicting_label_sequences"], tr["reverse_complement_duplicates"],
            tr["palindromes"]) == (3, 1, 2, 1)
    assert tr["classes"] == {"a": 5, "b": 4}
    assert r["leakage"]["train->validation"] == {"exact": 1, "reverse_complement": 1, "fraction": round(2 / 3, 6)}
    assert r["leakage"]["validation->test"]["exact"] == 1 and r["leakage"]["train->test"]["exact"] == 0
    te = r["splits"]["test"]
    assert te["rows_with_n"] == 1 and te["n_fraction"] == round(2 / 90, 6)
    assert r["splits"]["train"]["length"]["min"] == 20 and r["splits"]["train"]["length"]["max"] == 30
    md = report_markdown(r)
    assert "| train -> validation | 1 | 1 | 66.67% |" in md
    assert any("conflicting labels" in w for w in r["warnings"])
    clean = quality_report(datasets.DatasetDict({"train": ds(base[:4], [0, 1, 0, 1])}))
    assert clean["warnings"] == [] and "nothing to report" in report_markdown(clean)
    small = quality_report(datasets.DatasetDict({"train": ds(base[:4], [0, 1, 0, 1]),
                                                 "test": ds(base[4:], [0, 1, 0, 1])}))
    assert small["warnings"] == ["the test split holds only 4 sequences; with fewer than 20 sequences a split's "
                                 "scores (the best epoch, the reported metrics) are too noisy to trust, so give more "
                                 "data"]


def test_cli_list_info_report_card(shared_data, tmp_path, capsys):
    assert main(["data", "list", "histone_*"]) == 0
    out = capsys.readouterr().out
    assert "histone_h3k79me3" in out and "splice" not in out
    assert main(["data", "info", "splice", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 3190 and info["sources"][0]["sha256"].startswith("ebbae10c")
    card = tmp_path / "card" / "README.md"
    assert main(["data", "report", "splice", "--source", str(shared_data / "splice"), "--card", str(card),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(s["rows"] for s in report["splits"].values()) == 3190
    assert report["splits"]["train"]["exact_duplicates"] > 0  # the UCI file repeats sequences
    text = card.read_text()
    from huggingface_hub import DatasetCard

    parsed = DatasetCard(text)
    assert parsed.data.license == "cc-by-4.0" and parsed.data.pretty_name == "splice"
    assert "## Leakage between splits" in text.replace("### Leakage", "## Leakage") and "ebbae10c" in text
    assert main(["data", "report", "nope"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    # A mistyped path is refused as a path, whichever command reads it (it was "unknown benchmark" in train).
    for argv in (["train", "--arch", "genonet_small", "--dataset", str(tmp_path / "splice30.csv"), "--epochs=1"],
                 ["train", "--arch", "genonet_small", "--dataset", "splice30.csv", "--epochs=1"],
                 ["finetune", "genonet_small.splice", "--data", "mine.fa", "-o", str(tmp_path / "ft")],
                 ["data", "info", "my_data/"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "does not exist; check the path" in err and "unknown benchmark" not in err, argv
    assert not (tmp_path / "ft").exists()
    assert main(["data", "report", "splice", "--source", str(tmp_path / "missing")]) == 2
    assert Counter(capsys.readouterr().err.split(":")[:2]) == Counter(["genozoo", " error"])


def test_labels_that_cannot_train_a_classifier_are_refused_with_the_record(tmp_path, capsys):
    """An empty label cell was a class named ''; a test file's unseen labels became classes of the model; a
    single-class file crashed `train` (finetune refused it)."""
    seqs = ["ACGTACGTAC", "GGGCCCAAAT", "TTTTACGCGA", "CAGTCAGTCA"] * 5
    rows = [(s, "pos" if i % 2 else "neg") for i, s in enumerate(seqs)]
    blank = tmp_path / "blank.csv"
    blank.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows) + "ACGTTGCAAC,\n")
    with pytest.raises(FormatError, match=r"1 record\(s\) have no label, the first 'blank-21' \(record 21\)"):
        from_files(str(blank))
    train, other = tmp_path / "train.csv", tmp_path / "other.csv"
    train.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    other.write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(seqs)))
    with pytest.raises(UserError, match=r"the test data has label\(s\) 0, 1, which the training data \(labels neg, "
                                        r"pos\) does not have"):
        from_files(str(train), test=str(other))
    ids = tmp_path / "ids.csv"
    ids.write_text("id,sequence,label\n" + "".join(f"r{i},{s},{y}\n" for i, (s, y) in enumerate(rows)))
    one = tmp_path / "one.csv"
    one.write_text("sequence,label\n" + "".join(f"{s},pos\n" for s in seqs))
    for argv in (["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(blank), "--out", str(tmp_path / "r")],
                 ["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(train), "--test", str(other),
                  "--out", str(tmp_path / "r")],
                 ["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(one), "--out", str(tmp_path / "r")],
                 ["finetune", "genonet_small.splice", "--data", str(blank), "-o", str(tmp_path / "f")],
                 ["finetune", "genonet_small.splice", "--data", str(ids), "--label-column", "id", "-o",
                  str(tmp_path / "f")]):  # a column of distinct values, not labels (it was a traceback)
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.count("genozoo: error:") == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "f").exists()
    few = tmp_path / "few.csv"  # a split left empty was "no sequences to encode" after the model had loaded
    few.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows[:4]))
    with pytest.raises(UserError, match=r"holds 4 sequence\(s\), too few to split into train, validation and test"):
        from_files(str(few))


def test_the_first_line_wins_over_a_table_extension_that_does_not_match_it(tmp_path, capsys):
    seqs = ["ACGTACGTAC", "GGGCCCAAAT"]
    tsv, fasta = tmp_path / "tabs.csv", tmp_path / "reads.csv"
    tsv.write_text("id\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in enumerate(seqs)))
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    for path in (tsv, fasta):
        assert main(["predict", "genonet_small.splice", str(path), "-q"]) == 0, path
        rows = capsys.readouterr().out.splitlines()
        assert [r.split(",")[0] for r in rows[1:]] == ["s0", "s1"], path
    (tmp_path / "odd.txt").write_text("no format here\n")
    assert main(["predict", "genonet_small.splice", str(tmp_path / "odd.txt"), "-q"]) == 2
    assert "or one sequence per line, or name the format (--format, format=:" in capsys.readouterr().err


def test_one_sequence_per_line_reads_as_the_space_reads_pasted_text(tmp_path, capsys, monkeypatch):
    """The space's text box took one sequence per line, the CLI (and the space's upload) refused such a file."""
    import io
    import sys

    from zoo.cli.use import _input_options
    from zoo.data.formats import FORMATS
    from zoo.io import open_text_input

    seqs = ["ACGTACGTACGTAC", "GGGCCCAAATTTGG"]
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(seqs) + "\n\n")
    assert main(["predict", "genonet_small.splice", str(plain), "-q"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    with open_text_input("\n".join(seqs)) as pasted:
        assert [r.split(",")[0] for r in rows] == [i for i, _ in pasted] == ["seq1", "seq2"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"no format here\n")))
    assert main(["predict", "genonet_small.splice", "-", "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the format of <stdin>" in err and "genozoo-input-" not in err  # no temporary path
    import argparse

    parser = argparse.ArgumentParser()  # the CLI spells the formats out (importing the readers would slow it)
    _input_options(parser)
    assert next(a for a in parser._actions if a.dest == "format").choices == ["auto", *FORMATS]


@pytest.mark.timeout(30)  # a pipe opened twice would wait for a second writer forever
def test_a_pipe_reads_as_a_file_does(tmp_path, capsys, monkeypatch):
    """A FIFO (what `--data <(zcat a.fa.gz)` gives) is read once into a temporary copy, as `genozoo predict` reads
    it: the same rows as the file, gzipped or not, no traceback, no copy left behind, and errors name the pipe."""
    import os
    import tempfile
    import threading

    _write_fasta(tmp_path / "a.fa")
    _write_fasta(tmp_path / "a.fa.gz", gz=True)
    (tmp_path / "plain.fa").write_text("".join(f">{i}\n{s}\n" for i, s in enumerate(SEQS)))
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))

    def feed(name: str, as_name: str | None = None):  # as_name: no extension, as /dev/fd/63 has none
        fifo = tmp_path / (as_name or f"pipe{len(list(tmp_path.glob('pipe*')))}-{name}")
        os.mkfifo(fifo)
        threading.Thread(target=lambda: fifo.write_bytes((tmp_path / name).read_bytes()), daemon=True).start()
        return str(fifo)

    want = from_files(tmp_path / "a.fa")
    for pipe in (feed("a.fa"), feed("a.fa.gz"), feed("a.fa", "63")):  # the last is read to guess its format
        got = from_files(pipe)
        assert all(got[s]["id"] == want[s]["id"] and got[s]["sequence"] == want[s]["sequence"] for s in want)
    pipe = feed("plain.fa")
    with pytest.raises(FormatError, match=f"'{pipe}': the records have no labels"):
        from_files(pipe)
    pipe = feed("a.fa")
    assert main(["data", "report", "--data", pipe]) == 0
    assert f"Quality report: {pipe}" in capsys.readouterr().out  # the pipe's path, not its last part
    assert list(spool.iterdir()) == []


def test_a_record_without_bases_is_refused_naming_it(tmp_path, capsys):
    """A FASTA header with no sequence (or an empty CSV cell) would train on padding alone: one sentence naming
    the record and the file, as `genozoo predict` refuses an empty sequence."""
    (tmp_path / "gap.fa").write_text(">a|0\nACGTACGTAC\n>b|1\n\n>c|0\nACGTTTGCAA\n>d|1\nTTGCAAACGT\n")
    (tmp_path / "gap.csv").write_text("sequence,label\nACGTAC,0\n,1\nTTGCAA,1\n")
    with pytest.raises(UserError, match=r"sequence 'b' in gap.fa has no bases; remove the record"):
        from_files(str(tmp_path / "gap.fa"))
    assert main(["data", "report", "--data", str(tmp_path / "gap.csv")]) == 2
    assert "sequence 'gap-2' in gap.csv has no bases" in capsys.readouterr().err  # the second record


def test_a_labels_file_by_id_needs_unique_record_ids_and_a_record_named_y_is_not_a_header(tmp_path):
    fa = tmp_path / "reads.fa"
    fa.write_text("".join(f">{name}\n{s}\n" for name, s in zip(["y", "x", "z", "w"], SEQS)))
    (tmp_path / "by_id.tsv").write_text("y\t1\nx\t0\nz\t1\nw\t0\n")  # its first line is data, not a header
    dd = from_files(fa, labels=tmp_path / "by_id.tsv", fractions=(0.5, 0.25, 0.25))
    got = {r["id"]: dd[s].features["label"].names[r["label"]] for s in dd for r in dd[s]}
    assert got == {"y": "1", "x": "0", "z": "1", "w": "0"}
    fa.write_text("".join(f">{name}\n{s}\n" for name, s in zip(["y", "x", "x", "w"], SEQS)))
    with pytest.raises(FormatError, match=r"record id 'x' appears more than once in .*reads.fa', so its label "
                                          r"cannot tell those records apart"):
        from_files(fa, labels=tmp_path / "by_id.tsv")


def test_short_sequences_one_per_line_are_recognised(tmp_path):
    """A file of one sequence per line is read as such whatever the sequences' length (ACGT, 3 bp), while a
    first line that is a word (a column name in IUPAC letters, "data") still leaves the format to be named."""
    from zoo.data.formats import detect_format

    for name, text in (("a.txt", "ACGT\n"), ("b.txt", "ACGT\nGGC\nAT\n"), ("c", "acgu\nN\n")):
        (tmp_path / name).write_text(text)
        assert detect_format(tmp_path / name) == "lines", text
    for name, text in (("d.txt", "data\nACGTACGTAC\n"), ("e.txt", "CAT\nDOG\n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(FormatError, match="cannot tell the format"):
            detect_format(tmp_path / name)
