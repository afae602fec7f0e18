"""The layouts users' own data comes in (issue 23): a file per class, separate validation/test sources, labels
files as one label per line, 'ID LABEL' lines or a 0/1 matrix, one labels file per data file, and FASTA.gz / CSV
beside them. Every file is small and generated here."""
from __future__ import annotations

import gzip

import pytest

from zoo.data import FormatError, from_files
from zoo.data.formats import read_labels_file
from zoo.errors import UserError

A = ["ACGTACGTACGT", "ACGTTTGTACGA", "ACGAACGTACCT", "ACCTACGTACGT", "ACGTACGAACGT", "TCGTACGTACGT"]
B = ["GGGGCCCCGGGG", "GGGCCCCCGGGA", "GGAGCCCCGGGG", "GCGGCCCCGGGG", "GGGGCCCAGGGG", "GGGGCCCCGGTG"]


def _fasta(path, seqs, prefix, gz=False, header=""):
    text = "".join(f">{prefix}{i}{header}\n{s}\n" for i, s in enumerate(seqs))
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _rows(dd, split):
    names = dd[split].features["label"].names
    return [(r["sequence"], names[r["label"]]) for r in dd[split]]


def test_class_files_with_separate_test_files(tmp_path):
    # Class A's sequences in a.fa, class B's in two files (one gzipped), plus a_test.fa / b_test.fa.
    a = _fasta(tmp_path / "a.fa", A * 2, "a")
    b1 = _fasta(tmp_path / "b1.fa", B, "b", header=" label=ignored")  # header labels do not override the class
    b2 = _fasta(tmp_path / "b2.fa.gz", B, "c", gz=True)
    at = _fasta(tmp_path / "a_test.fa", A[:3], "at")
    bt = _fasta(tmp_path / "b_test.fa", B[:2], "bt")
    dd = from_files({"A": a, "B": [b1, b2]}, test={"A": at, "B": bt}, validation_fraction=0.25)
    assert dd["train"].features["label"].names == ["A", "B"]  # the mapping's order
    assert sorted(_rows(dd, "test")) == sorted([(s, "A") for s in A[:3]] + [(s, "B") for s in B[:2]])
    seen = _rows(dd, "train") + _rows(dd, "validation")
    assert sorted(seen) == sorted([(s, "A") for s in A * 2] + [(s, "B") for s in B * 2])
    assert [dd[s].num_rows for s in ("train", "validation", "test")] == [18, 6, 5]
    assert "test as given" in dd["test"].info.description
    with pytest.raises(UserError, match="class\\(es\\) C appear in the validation/test files but not in the training"):
        from_files({"A": a, "B": b1}, test={"A": at, "C": bt})
    with pytest.raises(UserError, match="already gives every record its label; drop labels="):
        from_files({"A": a, "B": b1}, labels=tmp_path / "x.txt")


def test_matrix_labels_file_is_not_read_as_ids(tmp_path):
    """The measured case: a one-hot row per record, tab-separated, same order as the FASTA."""
    fa = _fasta(tmp_path / "test.fa", A + B, "r")
    target = tmp_path / "test.target"
    target.write_text("".join("1\t0\n" for _ in A) + "".join("0\t1\n" for _ in B))
    table = read_labels_file(target)
    assert table.form == "matrix" and table.width == 2 and table.labels[:1] == ["0"]
    dd = from_files(fa, labels=target)
    assert dd["train"].features["label"].names == ["0", "1"]
    got = {s: l for split in dd for s, l in _rows(dd, split)}
    assert all(got[s] == "0" for s in A) and all(got[s] == "1" for s in B)
    # --label-names names the columns; a header row does too.
    dd = from_files(fa, labels=target, label_names=["negative", "positive"])
    assert dd["test"].features["label"].names == ["negative", "positive"]
    headed = tmp_path / "headed.csv"
    headed.write_text("neg,pos\n" + "".join("1,0\n" for _ in A) + "".join("0,1\n" for _ in B))
    assert from_files(fa, labels=headed)["train"].features["label"].names == ["neg", "pos"]
    # Errors say which form was understood and what was expected.
    with pytest.raises(FormatError, match="read as a 0/1 matrix with 2 columns, but 3 label names were given"):
        from_files(fa, labels=target, label_names=["a", "b", "c"])
    short = tmp_path / "short.target"
    short.write_text("1\t0\n0\t1\n")
    with pytest.raises(FormatError, match="read as a 0/1 matrix with 2 columns, one row per record and holds 2 "
                                          "labels, but .* has 12 records"):
        from_files(fa, labels=short)
    multi = tmp_path / "multi.target"
    multi.write_text("1\t1\n" * 12)
    with pytest.raises(FormatError, match="line 1 holds 2 ones; each row needs exactly one 1"):
        from_files(fa, labels=multi)
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"x{i} A\n" for i in range(12)))
    with pytest.raises(FormatError, match="read as 'ID LABEL' per line .* no label for 12 of the 12 record id"):
        from_files(fa, labels=ids)
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("a b c\nd\n")
    with pytest.raises(FormatError, match="fits none of the forms; .* should hold one label per line"):
        from_files(fa, labels=ragged)


def test_one_labels_file_per_data_file(tmp_path):
    train = _fasta(tmp_path / "train.fa", A + B, "t")
    test = _fasta(tmp_path / "test.fa.gz", A[:2] + B[:2], "u", gz=True)
    train_labels = tmp_path / "train.txt"
    train_labels.write_text("\n".join(["a"] * 6 + ["b"] * 6) + "\n")  # one label per line
    test_labels = tmp_path / "test.target"
    test_labels.write_text("1 0\n1 0\n0 1\n0 1\n")  # a matrix; names given below
    dd = from_files(train, test=test, labels=[train_labels, test_labels], label_names=["a", "b"])
    assert sorted(_rows(dd, "test")) == sorted([(s, "a") for s in A[:2]] + [(s, "b") for s in B[:2]])
    with pytest.raises(UserError, match="names 1 labels file\\(s\\) for 2 data file\\(s\\) \\(train.fa, test.fa.gz\\)"):
        from_files(train, test=test, labels=train_labels)


def test_several_plain_files_and_csv_with_validation_and_test(tmp_path):
    part1 = _fasta(tmp_path / "p1.fa", A, "p", header="|pos")
    part2 = tmp_path / "p2.csv"
    part2.write_text("dna,cls\n" + "".join(f"{s},neg\n" for s in B))
    val = tmp_path / "val.csv"
    val.write_text("dna,cls\n" + f"{A[0]},pos\n{B[0]},neg\n")
    test = tmp_path / "test.tsv"
    test.write_text("dna\tcls\n" + f"{A[1]}\tpos\n{B[1]}\tneg\n")
    dd = from_files([part1, part2], validation=val, test=test, sequence_column="dna", label_column="cls")
    assert [dd[s].num_rows for s in ("train", "validation", "test")] == [12, 2, 2]
    assert dd["train"].features["label"].names == ["neg", "pos"]
    assert "as given" in dd["train"].info.description
    with pytest.raises(UserError, match="pass a test file too"):
        from_files(part1, validation=val)


def test_cli_train_and_data_report_take_class_files(tmp_path, capsys):
    """`genozoo train --dataset CLASS=FILE ... --test ...` and `genozoo data report --data ...` (in process)."""
    import yaml

    from toy_data import planted
    from zoo.cli import main

    seqs, y = planted(120, 40, seed=3)
    for name, keep in (("motif", 1), ("plain", 0)):
        rows = [s for s, label in zip(seqs, y.tolist()) if label == keep]
        _fasta(tmp_path / f"{name}.fa", rows[:45], name)
        _fasta(tmp_path / f"{name}_test.fa.gz", rows[45:], name + "t", gz=True)
    data = ["--dataset", f"motif={tmp_path / 'motif.fa'}", "--dataset", f"plain={tmp_path / 'plain.fa'}",
            "--test", f"motif={tmp_path / 'motif_test.fa.gz'}", "--test", f"plain={tmp_path / 'plain_test.fa.gz'}"]
    assert main(["train", "--arch", "deepram_conv1d_onehot", *data, "--out", str(tmp_path / "runs"), "--seed", "0",
                 "--epochs=1", "--batch_size=16", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "deepram_conv1d_onehot.motif-plain seed 0" in out
    run = next((tmp_path / "runs").glob("*/seed0"))
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    assert recipe["data_args"]["train"] == {"motif": [str(tmp_path / "motif.fa")],
                                            "plain": [str(tmp_path / "plain.fa")]}
    assert recipe["dataset"] == "motif=motif.fa,plain=plain.fa"
    assert main(["data", "report", "--data", f"motif={tmp_path / 'motif.fa'}", "--data",
                 f"plain={tmp_path / 'plain.fa'}", "--test", f"motif={tmp_path / 'motif_test.fa.gz'}",
                 "--test", f"plain={tmp_path / 'plain_test.fa.gz'}", "--json", "--card",
                 str(tmp_path / "card.md")]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["test"]["rows"] == 30 and report["splits"]["validation"]["rows"] == 9
    assert set(report["splits"]["train"]["classes"]) == {"motif", "plain"}
    assert "test as given" in (tmp_path / "card.md").read_text()
    assert main(["data", "report", "splice", "--data", str(tmp_path / "motif.fa")]) == 2
    assert "not both" in capsys.readouterr().err
