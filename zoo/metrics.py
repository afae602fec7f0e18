"""Classification metrics (computed by scikit-learn) and their aggregation across DDP ranks.

:func:`compute_metrics` turns labels and class probabilities ``(N, C)`` into the six numbers every genozoo card and
leaderboard reports: accuracy, balanced accuracy, macro F1, Matthews correlation, AUROC and AUPRC. For a binary
task AUROC/AUPRC score the positive class; for more classes they are the macro average of one-vs-rest scores.
A score that is undefined on the given labels (e.g. AUROC when only one class is present) is ``nan``, never a
made-up value. Under ``torch.distributed`` each rank holds predictions for its own shard;
:func:`gather_predictions` collects every rank's rows (in their original order) so metrics are computed once on
the whole split, exactly as a single process would.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

__all__ = ["METRICS", "HIGHER_IS_BETTER", "compute_metrics", "gather_predictions", "format_metrics"]

#: The metric names, in the order tables show them.
METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc", "auprc")
HIGHER_IS_BETTER = {m: True for m in METRICS} | {"loss": False}


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def compute_metrics(y_true: Sequence[int] | np.ndarray | torch.Tensor,
                    probs: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Metrics of class probabilities ``probs`` ``(N, C)`` against integer labels ``y_true`` ``(N,)``.

    The predicted class is the argmax of ``probs``. Returns a dict over :data:`METRICS` with Python floats.
    """
    y = _as_numpy(y_true).astype(np.int64).reshape(-1)
    p = _as_numpy(probs).astype(np.float64)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"probs must have shape (N, C) with N={y.shape[0]}, not {p.shape}")
    n_classes = p.shape[1]
    labels = np.arange(n_classes)
    pred = p.argmax(axis=1)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        # sklearn warns when a class is missing from y_true or y_pred; the metrics stay well defined.
        warnings.simplefilter("ignore")
        out["accuracy"] = skm.accuracy_score(y, pred)
        out["balanced_accuracy"] = skm.balanced_accuracy_score(y, pred)
        out["f1_macro"] = skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0)
        out["mcc"] = skm.matthews_corrcoef(y, pred)
        present = np.unique(y)
        if len(present) < 2:
            out["auroc"] = out["auprc"] = math.nan  # undefined with one class
        elif n_classes == 2:
            out["auroc"] = skm.roc_auc_score(y, p[:, 1])
            out["auprc"] = skm.average_precision_score(y, p[:, 1])
        else:
            # Normalize rows in float64: float32 softmax outputs can miss sklearn's sum-to-one check.
            p = p / p.sum(axis=1, keepdims=True)
            if len(present) == n_classes:
                out["auroc"] = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
            else:
                out["auroc"] = math.nan  # sklearn cannot score one-vs-rest for an absent class
            onehot = label_binarize(y, classes=labels)
            out["auprc"] = skm.average_precision_score(onehot[:, present], p[:, present], average="macro")
    return {k: float(v) for k, v in out.items()}


def format_metrics(m: dict[str, float], keys: Sequence[str] = ("loss",) + METRICS, prefix: str = "") -> str:
    """``loss 0.412 accuracy 0.873 ...`` for logs and progress bars."""
    return " ".join(f"{prefix}{k} {m[k]:.4f}" for k in keys if k in m)


# ------------------------------------------------------------------------------------------- distributed
def _gather_rows(t: torch.Tensor, world: int) -> list[torch.Tensor]:
    """``all_gather`` of tensors whose first dimension differs between ranks (pad, gather, trim)."""
    import torch.distributed as dist

    # NCCL moves only CUDA tensors; gloo only CPU ones.
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = t.to(device)
    n = torch.tensor([t.shape[0]], device=device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes_i = [int(s.item()) for s in sizes]
    top = max(sizes_i)
    padded = torch.zeros((top, *t.shape[1:]), dtype=t.dtype, device=device)
    padded[: t.shape[0]] = t
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return [part[:size] for part, size in zip(parts, sizes_i)]


def gather_predictions(index: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Collect per-rank predictions into the whole split, ordered by ``index`` (each row's position in the split).

    Without an initialized process group this only sorts by ``index``. Every rank gets the full result, so every
    rank takes the same decisions (best epoch, early stopping) from it. Rows whose index appears twice (a padding
    sampler) are kept once, so each example counts exactly once.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        world = dist.get_world_size()
        index = torch.cat(_gather_rows(index, world))
        tensors = tuple(torch.cat(_gather_rows(t, world)) for t in tensors)
    index = index.cpu()
    order = torch.argsort(index, stable=True)
    index = index[order]
    keep = torch.ones_like(index, dtype=torch.bool)
    keep[1:] = index[1:] != index[:-1]
    order = order[keep]
    return (index[keep],) + tuple(t.cpu()[order] for t in tensors)
