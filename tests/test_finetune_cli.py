"""`genozoo finetune` end to end on the layouts users have (issue 23): class files with a separate test set,
a FASTA with a 0/1 labels matrix, --label-map keeping the pretrained head, --from-scratch with a bare
architecture, --compare-scratch; every card records a command that reruns to the same metrics."""
from __future__ import annotations

import gzip
import json
import shlex

import pytest

import zoo
from zoo.data import planted_motif_benchmark

from use_models import SPECS, run_cli, trained


@pytest.fixture(scope="session")
def kmer(tmp_path_factory):
    return trained("kmer", tmp_path_factory.mktemp("use-models"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A planted-CTCF set (60 bp) as one FASTA per class (+ per-class test files), and as a FASTA + matrix."""
    root = tmp_path_factory.mktemp("ft-data")
    dd = planted_motif_benchmark(400, 60, ["CTCF"], seed=21, splits=(0.7, 0.0, 0.3))
    for split in ("train", "test"):
        rows = list(zip(dd[split]["sequence"], dd[split]["label"]))
        for label, name in ((0, "neg"), (1, "pos")):
            text = "".join(f">{split}{i}\n{s}\n" for i, (s, y) in enumerate(rows) if y == label)
            path = root / f"{name}{'_test' if split == 'test' else ''}.fa"
            if name == "pos" and split == "train":
                with gzip.open(path.with_suffix(".fa.gz"), "wt") as fh:
                    fh.write(text)
            else:
                path.write_text(text)
        (root / f"{split}.fa").write_text("".join(f">{split}{i}\n{s}\n" for i, (s, _) in enumerate(rows)))
        (root / f"{split}.target").write_text("".join("1\t0\n" if y == 0 else "0\t1\n" for _, y in rows))
    return root, {s: dd[s].num_rows for s in ("train", "test")}


def _rerun(card_text: str, out, cwd):
    """The command the card records, run again into ``out``."""
    line = next(ln for ln in card_text.splitlines() if ln.strip().startswith("genozoo finetune"))
    args = shlex.split(line.strip().strip("`"))[1:]
    args[args.index("-o") + 1] = str(out)
    return run_cli(*args, cwd=cwd)


def test_class_files_separate_test_and_label_map_keep_the_head(kmer, files, tmp_path):
    root, n = files
    out = run_cli("finetune", kmer.folder, "--data", "neg=neg.fa", "--data", "pos=pos.fa.gz",
                  "--test", "neg=neg_test.fa", "--test", "pos=pos_test.fa", "--label-map", "neg=absent,pos=present",
                  "--epochs", "1", "--seed", "1", "-o", tmp_path / "ft", "-q", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "0 started fresh" in out.stderr  # same task: the pretrained head is kept, nothing starts fresh
    config = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert config["label_names"] == ["absent", "present"] and config["dataset"] == "neg=neg.fa,pos=pos.fa.gz"
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8  # the base already knows CTCF; one epoch keeps it
    card = (tmp_path / "ft" / "README.md").read_text()
    assert "--test neg=neg_test.fa" in card and "--label-map neg=absent,pos=present" in card
    assert "test as given; validation carved from train" in card
    # Without the map the names differ, so the head starts fresh.
    out = run_cli("finetune", kmer.folder, "--data", "neg=neg.fa", "--data", "pos=pos.fa.gz", "--epochs", "1",
                  "-o", tmp_path / "ft2", "-q", cwd=root)
    assert out.returncode == 0 and "2 started fresh" in out.stderr, out.stderr
    rerun = _rerun(card, tmp_path / "again", root)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)
    bad = run_cli("finetune", kmer.folder, "--data", "neg=neg.fa", "--data", "pos=pos.fa.gz", "--label-map",
                  "yes=present", "-o", tmp_path / "bad", cwd=root)
    assert bad.returncode == 2 and "the label map names 'yes', which the data does not have" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_from_scratch_on_matrix_labels_records_a_command_that_reruns(files, tmp_path):
    root, n = files
    arch, kwargs, _ = SPECS["kmer"]
    out = run_cli("finetune", arch, "--from-scratch", "--model-args", json.dumps(kwargs), "--data", "train.fa",
                  "--labels", "train.target", "--test", "test.fa", "--labels", "test.target",
                  "--label-names", "absent,present", "--epochs", "2", "-o", tmp_path / "scratch", "-q", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "from scratch" in out.stderr
    folder = tmp_path / "scratch"
    config = json.loads((folder / "config.json").read_text())
    assert not config.get("base_model") and config["label_names"] == ["absent", "present"]
    card = (folder / "README.md").read_text()
    assert "Trained from scratch" in card and "Fine-tuned from" not in card and "base_model" not in card
    metrics = json.loads((folder / "metrics.json").read_text())
    rerun = _rerun(card, tmp_path / "again", root)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["test"] == pytest.approx(metrics["test"], abs=1e-9)


def test_compare_scratch_reports_both(kmer, files, tmp_path):
    root, _ = files
    out = run_cli("finetune", kmer.folder, "--data", "train.fa", "--labels", "train.target", "--label-map",
                  "0=absent,1=present", "--compare-scratch", "--epochs", "1", "-o", tmp_path / "cmp", "-q", cwd=root)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(ln.startswith("test from scratch (same architecture and budget): loss") for ln in lines)
    summary = next(ln for ln in lines if ln.startswith("test accuracy: fine-tuned"))
    ft, sc = json.loads((tmp_path / "cmp" / "metrics.json").read_text())["test"]["accuracy"], None
    sc = json.loads((tmp_path / "cmp" / "metrics.json").read_text())["from_scratch"]["test"]["accuracy"]
    assert f"fine-tuned {ft:.4f}" in summary and f"from scratch {sc:.4f}" in summary
    assert ft > sc  # one epoch: the pretrained CTCF detector is far ahead of fresh weights


def test_fresh_model_from_python_card_says_so(files, tmp_path):
    """A model made with create_model (no weights) used to get 'Fine-tuned from <arch>' and a command that fails."""
    root, _ = files
    from zoo.finetune import finetune

    arch, kwargs, _ = SPECS["kmer"]
    fresh = zoo.create_model(arch, num_classes=2, seq_len=60, **kwargs)
    result = finetune(fresh, str(root / "train.fa"), tmp_path / "py", labels=str(root / "train.target"), epochs=1,
                      quiet=True)
    assert result.from_scratch and result.transferred == []
    card = (tmp_path / "py" / "README.md").read_text()
    assert "Trained from scratch" in card and "--from-scratch" in card and "--model-args" in card
    rerun = _rerun(card, tmp_path / "again", root)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["test"] == pytest.approx(
        result.metrics["test"], abs=1e-9)


def test_an_undefined_score_is_null_in_strict_json(kmer, tmp_path):
    """Five rows leave one sequence per held-out split: AUROC is undefined there, and metrics.json must stay JSON
    that strict readers accept (null, not NaN)."""
    rows = list(zip(kmer.data["train"]["sequence"], kmer.data["train"]["label"]))[:5]
    (tmp_path / "tiny.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    out = run_cli("finetune", kmer.folder, "--data", "tiny.csv", "-o", "ft", "--epochs", "1", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text(), parse_constant=refuse)
    assert None in [v for split in metrics.values() for v in split.values()]
    for name in ("epochs.json", "record.json"):
        json.loads((tmp_path / "ft" / name).read_text(), parse_constant=refuse)


def test_a_folder_that_holds_a_model_is_not_overwritten_without_overwrite(kmer, tmp_path):
    rows = list(zip(kmer.data["train"]["sequence"], kmer.data["train"]["label"]))[:40]
    (tmp_path / "mine.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    first = run_cli("finetune", kmer.folder, "--data", "mine.csv", "-o", "ft", "--epochs", "1", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    weights = (tmp_path / "ft" / "model.safetensors").read_bytes()
    again = run_cli("finetune", kmer.folder, "--data", "mine.csv", "-o", "ft", "--epochs", "1", "--seed", "3", "-q",
                    cwd=tmp_path)
    assert again.returncode == 2 and "'ft' already holds a model" in again.stderr and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr and (tmp_path / "ft" / "model.safetensors").read_bytes() == weights
    replaced = run_cli("finetune", kmer.folder, "--data", "mine.csv", "-o", "ft", "--epochs", "1", "--seed", "3",
                       "-q", "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert (tmp_path / "ft" / "model.safetensors").read_bytes() != weights
