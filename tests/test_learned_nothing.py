"""A learning rate far too high (``--lr 10``) blows the loss up without it ever becoming NaN, and used to leave a
model at chance saved without a word. Every way to train (``zoo.engine.fit``, ``genozoo finetune``, ``genozoo
train``, ``genozoo bakeoff``) now says, in one warning and in what it writes, when the kept model learned nothing
(:func:`zoo.engine.learned_nothing`); the model is still saved and the exit status stays 0. A sane learning rate
on the same data does not warn."""
from __future__ import annotations

import csv
import json
import math
import warnings

import pytest
import torch

from engine_tiny import TinyCNN, tiny_benchmark
from use_models import run_cli, tiny_saved_model
from zoo.engine import LearnedNothing, TrainConfig, fit, learned_nothing, seed_everything

MODEL_ARGS = json.dumps({"conv_filters": [16, 16], "dense": 16})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A planted-CTCF CSV (400 sequences of 40 bp): learnable in three epochs at a sane learning rate."""
    from zoo.data import planted_motif_benchmark

    root = tmp_path_factory.mktemp("learned-nothing")
    dd = planted_motif_benchmark(400, 40, ["CTCF"], seed=3)
    rows = [(s, y) for split in dd for s, y in zip(dd[split]["sequence"], dd[split]["label"])]
    (root / "d.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    return root


def _fit(lr: float):
    ds = tiny_benchmark(n=300, length=40)
    seed_everything(0)
    model = TinyCNN(seq_len=40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(model, ds["train"], ds["validation"], TrainConfig(epochs=3, lr=lr, batch_size=32, quiet=True))
    return result, [w for w in caught if issubclass(w.category, LearnedNothing)]


def test_fit_at_a_learning_rate_far_too_high_warns_and_keeps_the_model():
    result, caught = _fit(10.0)
    assert all(math.isfinite(r["train_loss"]) for r in result.history)  # never NaN: TrainingDiverged stays silent
    assert len(caught) == 1 and str(caught[0].message) == result.learned_nothing
    assert result.learned_nothing.startswith("the model learned nothing: on the 45 validation sequences")
    assert "the learning rate 10 may be too high: retrain with a lower one (--lr" in result.learned_nothing


def test_fit_at_a_sane_learning_rate_does_not_warn():
    result, caught = _fit(1e-2)
    assert result.learned_nothing is None and not caught


def test_the_criterion_needs_both_accuracy_and_loss_no_better_than_a_constant_answer():
    model = TinyCNN(seq_len=40)  # binary: one logit
    labels = torch.tensor([0, 0, 0, 1])
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # the loss of always answering (0.75, 0.25)
    assert learned_nothing(model, labels, {"val_accuracy": 0.75, "val_loss": entropy}) is not None
    assert learned_nothing(model, labels, {"val_accuracy": 0.5, "val_loss": 40.0}) is not None
    # Ranks well but the threshold has not moved (imbalanced, early): its loss beats the constant answer.
    assert learned_nothing(model, labels, {"val_accuracy": 0.75, "val_loss": entropy - 0.05}) is None
    # Right more often than the majority, however badly calibrated.
    assert learned_nothing(model, labels, {"val_accuracy": 1.0, "val_loss": 40.0}) is None
    assert learned_nothing(model, torch.tensor([1, 1]), {"val_accuracy": 0.0, "val_loss": 9.0}) is None  # one class
    # Class weights: the baseline is the weighted loss's own best constant answer (3 x 1 against 1 x 3: q = 1/2,
    # and binary cross-entropy averages over rows, so 6 ln 2 / 4).
    weight = torch.tensor([1.0, 3.0])
    weighted = learned_nothing(model, labels, {"val_accuracy": 0.75, "val_loss": 1.1}, weight)
    assert weighted is not None and "class frequencies (1.04)" in weighted
    assert learned_nothing(model, labels, {"val_accuracy": 0.75, "val_loss": 1.0}, weight) is None
    three = TinyCNN(num_classes=3, seq_len=40)
    assert learned_nothing(three, torch.tensor([0, 1, 2]), {"val_accuracy": 1 / 3, "val_loss": 1.2}) is not None
    assert learned_nothing(three, torch.tensor([0, 1, 2]), {"val_accuracy": 1 / 3, "val_loss": 1.0}) is None


def test_finetune_cli_warns_saves_and_records_it_and_a_sane_lr_does_not(data, tmp_path):
    common = ["finetune", "deepram_conv1d_onehot", "--from-scratch", "--model-args", MODEL_ARGS, "--data", "d.csv",
              "--epochs", "3", "-q"]
    out = run_cli(*common, "--lr", "10", "-o", tmp_path / "high", cwd=data)
    assert out.returncode == 0, out.stderr
    warning = [ln for ln in out.stderr.splitlines() if "learned nothing" in ln]
    assert len(warning) == 1 and warning[0].startswith("genozoo: warning: the model learned nothing: on the ")
    assert "lower one (--lr" in warning[0] and "Traceback" not in out.stderr
    assert (tmp_path / "high" / "model.safetensors").is_file()  # a warning: the model is still saved
    card = (tmp_path / "high" / "README.md").read_text()
    assert "Warning: the model learned nothing" in card  # whoever downloads it is told too
    sane = run_cli(*common, "--lr", "0.01", "-o", tmp_path / "sane", cwd=data)
    assert sane.returncode == 0, sane.stderr
    assert "learned nothing" not in sane.stderr
    assert "learned nothing" not in (tmp_path / "sane" / "README.md").read_text()


def test_train_cli_warns_and_keeps_the_run(data, tmp_path):
    out = run_cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", "d.csv", "--out", tmp_path / "runs",
                  "--seed", "0", "--epochs=3", "--lr=10", "-q", cwd=data)
    assert out.returncode == 0, out.stderr
    assert "genozoo: warning: the model learned nothing: " in out.stderr and "--lr" in out.stderr
    assert len(list((tmp_path / "runs").glob("*/seed0/model.safetensors"))) == 1
    metrics = json.loads(next((tmp_path / "runs").glob("*/seed0/metrics.json")).read_text())
    assert metrics["learned_nothing"].startswith("the model learned nothing: ")  # kept with the run


def test_bakeoff_names_the_runs_that_learned_nothing(data, tmp_path):
    folder = tiny_saved_model(tmp_path / "tiny", 40, ["0", "1"])
    out = run_cli("bakeoff", "--data", "d.csv", "--models", folder, "--epochs", "2", "--seeds", "1", "--lr", "10",
                  "-o", tmp_path / "report", cwd=data)
    assert out.returncode == 0, out.stderr
    warning = [ln for ln in out.stderr.splitlines() if "learned nothing" in ln and ln.startswith("genozoo:")]
    assert warning == ["genozoo: warning: 1 of 1 runs learned nothing (on validation no better than always "
                       "answering the most common class, nor than the class frequencies): tiny (fine-tuned, seed 0); "
                       "the learning rate 10 may be too high: run again with a lower one (--lr; the default is "
                       "0.001)"]
    rows = list(csv.DictReader(open(tmp_path / "report" / "results.csv")))
    assert [r["learned_nothing"] for r in rows] == ["True"]
    assert "**Warning: 1 of 1 runs learned nothing" in (tmp_path / "report" / "recommendation.md").read_text()
