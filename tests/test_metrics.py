"""zoo.metrics: agreement with scikit-learn and with values worked out by hand, undefined cases, gathering."""
import json
import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from zoo.metrics import METRICS, compute_metrics, format_metrics, gather_predictions


def test_binary_by_hand():
    # 4 positives, 4 negatives; threshold 0.5 gives TP=3 FN=1 TN=3 FP=1.
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    p1 = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1])
    m = compute_metrics(y, np.stack([1 - p1, p1], 1))
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["f1_macro"] == pytest.approx(0.75)  # both classes: precision = recall = 3/4
    assert m["mcc"] == pytest.approx((3 * 3 - 1 * 1) / math.sqrt(4 * 4 * 4 * 4))
    # AUROC = fraction of (positive, negative) pairs ranked correctly: 13 of 16 here.
    pairs = sum(a > b for a in p1[:4] for b in p1[4:])
    assert m["auroc"] == pytest.approx(pairs / 16) == pytest.approx(13 / 16)
    # Average precision: precision at each positive's rank (1/1, 2/2, 3/4, 4/6), averaged.
    assert m["auprc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)
    assert set(m) == set(METRICS)


def test_agrees_with_sklearn_multiclass():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[y] * 1.2
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float32), 1)  # float32 rows, as models give
    m = compute_metrics(torch.tensor(y), probs)
    p = probs.double().numpy()
    pred = p.argmax(1)
    onehot = np.eye(3)[y]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    # Macro one-vs-rest: the mean of the per-class binary scores.
    ovr_auc = np.mean([skm.roc_auc_score(onehot[:, c], p[:, c]) for c in range(3)])
    ovr_ap = np.mean([skm.average_precision_score(onehot[:, c], p[:, c]) for c in range(3)])
    assert m["auroc"] == pytest.approx(ovr_auc, abs=1e-9)
    assert m["auprc"] == pytest.approx(ovr_ap, abs=1e-9)
    assert 0.5 < m["auroc"] < 1


def test_undefined_scores_are_nan_not_invented():
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    m = compute_metrics([1, 1], probs)
    assert math.isnan(m["auroc"]) and math.isnan(m["auprc"])
    assert m["accuracy"] == 0.5
    # A class missing from y_true in a 3-class problem: OvR AUROC undefined, AUPRC over present classes.
    p3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    m3 = compute_metrics([0, 1, 0, 1], p3)
    assert math.isnan(m3["auroc"]) and m3["auprc"] == pytest.approx(1.0) and m3["accuracy"] == 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        compute_metrics([0, 1, 1], np.ones((2, 2)) / 2)


def test_gather_single_process_sorts_and_dedupes():
    index = torch.tensor([3, 0, 2, 0, 1])
    values = torch.tensor([[30.0], [0.0], [20.0], [0.0], [10.0]])
    idx, out = gather_predictions(index, values)
    assert idx.tolist() == [0, 1, 2, 3]
    assert out.view(-1).tolist() == [0.0, 10.0, 20.0, 30.0]


def test_format_metrics():
    assert format_metrics({"loss": 0.5, "accuracy": 0.25}) == "loss 0.5000 accuracy 0.2500"


def _strict(text: str):
    """``json.loads`` that refuses NaN / Infinity, as strict JSON readers (jq, JavaScript, Go) do."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_metrics_json_is_strict(tmp_path):
    from zoo.checkpoint import write_epoch_log
    from zoo.outputs import atomic_write_json, json_text

    m = compute_metrics([1, 1, 1], np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]]))  # one class: AUROC undefined
    assert math.isnan(m["auroc"])
    nested = {"test": m, "from_scratch": {"test": m}, "sd": [1.0, math.inf, -math.inf]}
    back = _strict(json_text(nested))
    assert back["test"]["auroc"] is None and back["from_scratch"]["test"]["auprc"] is None
    assert back["sd"] == [1.0, None, None] and back["test"]["accuracy"] == pytest.approx(2 / 3)
    atomic_write_json(tmp_path / "metrics.json", nested)
    assert _strict((tmp_path / "metrics.json").read_text()) == back
    write_epoch_log(tmp_path, [{"epoch": 1, "val_loss": 0.5, "val_auroc": math.nan}])
    assert _strict((tmp_path / "epochs.json").read_text()) == [{"epoch": 1, "val_loss": 0.5, "val_auroc": None}]
