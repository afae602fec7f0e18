"""Split protocols: deterministic, stratified train/validation/test partitions and the study's fixed protocols.

Every function here works on label arrays and returns row indices, so the same code splits a ``datasets.Dataset``,
a numpy array or a list. Determinism: a split depends only on the labels, the fractions and the seed (numpy's
``PCG64`` generator), never on global random state. Stratification allocates each class's rows to the splits by
the largest-remainder method, so every split holds each class in the requested proportion up to one row, and the
split sizes add up to the input size exactly.

:func:`is_test_resplit` tells, from a split description, whether a published model's test rows were re-drawn from a
benchmark's published test file(s); leaderboards and cards put :data:`RESPLIT_MARK` beside such a metric.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

__all__ = ["SPLITS", "stratified_split", "carve_validation", "paper_splice_split", "study_split", "split_sizes",
           "is_test_resplit", "RESPLIT_MARK", "RESPLIT_NOTE"]

SPLITS = ("train", "validation", "test")

#: Beside a test metric whose test rows come from a re-split of a published test file (see :func:`is_test_resplit`).
RESPLIT_MARK = "†"
#: The legend of :data:`RESPLIT_MARK`, printed under every table that uses it.
RESPLIT_NOTE = ("† test rows from a re-split of the benchmark's published test file(s), not its published test split "
                "(the split is described with the model)")
_RESPLIT = re.compile(r"\bre-split\b|\bonly its test\.\w+\b.*\b\d+/\d+/\d+\b", re.IGNORECASE | re.DOTALL)


def is_test_resplit(split: str | None) -> bool:
    """Whether a split description (a recipe's and published record's ``split``) says the test rows were drawn by
    re-splitting published test files: files "pooled and re-split", or "only its test.data" cut into
    train/validation/test."""
    return bool(split) and bool(_RESPLIT.search(split))


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Sizes of a partition of ``n`` rows in the given fractions (largest remainder; they sum to ``n``)."""
    f = np.asarray(fractions, dtype=np.float64)
    if (f < 0).any() or f.sum() <= 0:
        raise ValueError(f"split fractions must be non-negative and not all zero, got {list(fractions)}")
    f = f / f.sum()
    raw = f * n
    sizes = np.floor(raw).astype(np.int64)
    # Hand the rows lost to flooring to the largest remainders; ties go to the earlier split (train first).
    order = np.argsort(-(raw - sizes), kind="stable")
    sizes[order[: n - int(sizes.sum())]] += 1
    return sizes.tolist()


def stratified_split(labels: Sequence[int] | np.ndarray, fractions: Sequence[float] = (0.7, 0.15, 0.15),
                     seed: int = 0, stratify: bool = True) -> list[np.ndarray]:
    """Partition rows ``0..len(labels)-1`` into ``len(fractions)`` index arrays (each sorted ascending).

    With ``stratify`` each class is shuffled and cut separately, then the per-split totals are rebalanced so the
    split sizes equal :func:`split_sizes` of the whole set.
    """
    y = np.asarray(labels)
    n = len(y)
    rng = np.random.default_rng(seed)
    k = len(fractions)
    if not stratify:
        perm = rng.permutation(n)
        cuts = np.cumsum(split_sizes(n, fractions))[:-1]
        return [np.sort(p) for p in np.split(perm, cuts)]
    target = np.asarray(split_sizes(n, fractions))
    classes = np.unique(y)
    per_class = np.array([split_sizes(int((y == c).sum()), fractions) for c in classes])  # (C, k)
    # Per-class rounding can miss the global sizes by a few rows; move single rows from splits that got too many
    # to splits that got too few, taking them from the largest classes (least distortion of the class ratios).
    diff = per_class.sum(axis=0) - target
    while diff.any():
        src, dst = int(np.argmax(diff)), int(np.argmin(diff))
        c = int(np.argmax(per_class[:, src]))
        per_class[c, src] -= 1
        per_class[c, dst] += 1
        diff = per_class.sum(axis=0) - target
    out: list[list[np.ndarray]] = [[] for _ in range(k)]
    for ci, c in enumerate(classes):
        rows = np.flatnonzero(y == c)
        rows = rows[rng.permutation(len(rows))]
        for s, part in enumerate(np.split(rows, np.cumsum(per_class[ci])[:-1])):
            out[s].append(part)
    return [np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64) for parts in out]


def carve_validation(labels: Sequence[int] | np.ndarray, fraction: float = 0.1,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split a source's train rows into (train, validation) indices, stratified, for sources with no validation."""
    train, val = stratified_split(labels, (1.0 - fraction, fraction), seed=seed)
    return train, val


def paper_splice_split(labels: Sequence[int] | np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """The study's splice protocol: scikit-learn ``train_test_split(stratify=y)`` (25% test), then 15% of train as
    validation (stratified). The original fixed no seed (not reproducible); ``seed`` makes it so.
    Returns sorted train, validation, test indices (3190 rows -> 2033/359/798).
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels)
    idx = np.arange(len(y))
    tv, te = train_test_split(idx, test_size=0.25, stratify=y, random_state=seed)
    tr, va = train_test_split(tv, test_size=0.15, stratify=y[tv], random_state=seed)
    return [np.sort(tr), np.sort(va), np.sort(te)]


def study_split(labels: Sequence[int] | np.ndarray, seed: int = 3264, validation: float = 0.15,
                test: float = 0.15) -> list[np.ndarray]:
    """The study's histone protocol, call for call: scikit-learn ``train_test_split`` (stratified,
    ``random_state=seed``) takes ``test`` off, then ``validation / (1 - test)`` of the rest.

    On the same rows in the same order this reproduces the original split exactly (14,965 histone rows ->
    10475/2245/2245). Returns sorted train, validation, test indices.
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels)
    idx = np.arange(len(y))
    tv, te = train_test_split(idx, test_size=test, stratify=y, random_state=seed)
    tr, va = train_test_split(tv, test_size=validation / (1 - test), stratify=y[tv], random_state=seed)
    return [np.sort(tr), np.sort(va), np.sort(te)]
