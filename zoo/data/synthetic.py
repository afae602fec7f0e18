"""Synthetic benchmarks with ground truth: random background sequences with planted motif instances.

Used by tests, the demo, throughput benchmarks and the interpretation work (an attribution method should light up
the planted positions, which are stored per row). Everything is vectorized numpy and deterministic for a seed.

Motifs are position weight matrices, ``(W, 4)`` probabilities over ``A C G T``. Built in (:data:`PWMS`):

* ``CTCF``: the counts of JASPAR MA0139.1 (CTCF, human; consensus ``TGGCCACCAGGGGGCGCTA``), checked equal to
  the matrix ``pyjaspar`` returns for MA0139.1 (tests/test_data_synthetic.py).
* ``GATA1`` (``WGATAR``, JASPAR MA0035 core), ``SP1`` (GC box ``GGGGCGGGGC``, JASPAR MA0079 core) and ``TATA``
  (``TATAWAWR``, the TBP site of JASPAR MA0108): built from their IUPAC consensus (each allowed base equally
  likely, 0.01 for the others), not from the JASPAR count matrices.

Any JASPAR matrix ID (``MA0139.1``) or name is looked up with ``pyjaspar`` when it is installed (its database is a
local file, no network). A ``(name, matrix)`` pair plants a user's own matrix.

Label rules: ``"presence"`` (binary: ``absent`` / ``present``, one of the motifs planted in positives) and
``"which"`` (one class per motif: which motif was planted; ``include_none=True`` adds a ``none`` class).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from zoo.errors import UserError

__all__ = ["PWMS", "PWM_SOURCES", "get_pwm", "iupac_pwm", "sample_pwm", "PlantedSample", "sample_planted",
           "planted_motif_benchmark", "random_sequences", "background_probs"]

_IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT",
          "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}
_CHARS = np.frombuffer(b"ACGT", dtype=np.uint8)


def iupac_pwm(consensus: str, floor: float = 0.01) -> np.ndarray:
    """A ``(W, 4)`` probability matrix from an IUPAC consensus: allowed bases share ``1 - floor*others``."""
    rows = []
    for ch in consensus.upper():
        allowed = _IUPAC.get(ch)
        if allowed is None:
            raise UserError(f"motif consensus {consensus!r} has {ch!r}, which is not an IUPAC nucleotide code")
        row = np.full(4, floor if len(allowed) < 4 else 0.25)
        row[["ACGT".index(b) for b in allowed]] = (1 - floor * (4 - len(allowed))) / len(allowed)
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


# JASPAR MA0139.1 (CTCF) counts, rows A, C, G, T.
_CTCF_COUNTS = np.array([
    [87, 167, 281, 56, 8, 744, 40, 107, 851, 5, 333, 54, 12, 56, 104, 372, 82, 117, 402],
    [291, 145, 49, 800, 903, 13, 528, 433, 11, 0, 3, 12, 0, 8, 733, 13, 482, 322, 181],
    [76, 414, 449, 21, 0, 65, 334, 48, 32, 903, 566, 504, 890, 775, 5, 507, 307, 73, 266],
    [459, 187, 134, 36, 2, 91, 11, 324, 18, 3, 9, 341, 8, 71, 67, 17, 37, 396, 59],
], dtype=np.float64).T

PWMS: dict[str, np.ndarray] = {
    "CTCF": _CTCF_COUNTS / _CTCF_COUNTS.sum(axis=1, keepdims=True),
    "GATA1": iupac_pwm("WGATAR"),
    "SP1": iupac_pwm("GGGGCGGGGC"),
    "TATA": iupac_pwm("TATAWAWR"),
}
PWM_SOURCES = {
    "CTCF": "JASPAR MA0139.1 counts",
    "GATA1": "IUPAC consensus WGATAR (JASPAR MA0035 core)",
    "SP1": "IUPAC consensus GGGGCGGGGC (JASPAR MA0079 core)",
    "TATA": "IUPAC consensus TATAWAWR (JASPAR MA0108, TBP)",
}

MotifSpec = Union[str, "tuple[str, np.ndarray]"]


def _jaspar(name: str) -> np.ndarray | None:
    try:
        from pyjaspar import jaspardb  # optional dependency
    except ImportError:
        return None
    import warnings

    db = jaspardb()
    with warnings.catch_warnings():  # pyjaspar warns on every miss; the miss is reported as a UserError below
        warnings.simplefilter("ignore")
        motif = db.fetch_motif_by_id(name) if name.upper().startswith("MA") else None
        if motif is None:
            found = db.fetch_motifs_by_name(name)
            motif = found[0] if found else None
    if motif is None:
        return None
    counts = np.array([motif.counts[b] for b in "ACGT"], dtype=np.float64).T
    return counts / counts.sum(axis=1, keepdims=True)


def get_pwm(motif: MotifSpec) -> tuple[str, np.ndarray]:
    """Resolve a motif spec to ``(name, (W, 4) probabilities)``: built-in name, JASPAR ID/name, or a pair."""
    if isinstance(motif, tuple):
        name, mat = motif
        mat = np.asarray(mat, dtype=np.float64)
        if mat.ndim != 2 or 4 not in mat.shape:
            raise UserError(f"motif {name!r} must be a (width, 4) matrix over A, C, G, T, got shape {mat.shape}")
        mat = mat if mat.shape[1] == 4 else mat.T
        return name, mat / mat.sum(axis=1, keepdims=True)
    key = str(motif)
    if key.upper() in PWMS:
        return key.upper(), PWMS[key.upper()]
    mat = _jaspar(key)
    if mat is None:
        raise UserError(f"unknown motif {key!r}; use one of {', '.join(PWMS)}, a JASPAR ID such as MA0139.1 "
                        "(needs `pip install pyjaspar`), or a (name, matrix) pair")
    return key, mat


def background_probs(background: str | float | Sequence[float]) -> np.ndarray:
    """Base probabilities of the background: ``"uniform"``, a GC fraction, or four probabilities (A, C, G, T)."""
    if isinstance(background, str):
        if background != "uniform":
            raise UserError(f"background {background!r} is not understood; pass 'uniform', a GC fraction or "
                            "four base probabilities")
        return np.full(4, 0.25)
    if np.isscalar(background):
        gc = float(background)
        if not 0 <= gc <= 1:
            raise UserError(f"GC fraction must lie in [0, 1], got {gc}")
        return np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    p = np.asarray(background, dtype=np.float64)
    if p.shape != (4,) or (p < 0).any() or p.sum() <= 0:
        raise UserError(f"background probabilities must be four non-negative numbers, got {list(p)}")
    return p / p.sum()


def _draw(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: ``cum`` (..., 4) cumulative probabilities, ``u`` uniforms -> codes 0..3."""
    return np.minimum((u[..., None] >= cum[..., :3]).sum(axis=-1), 3).astype(np.uint8)


def random_sequences(n: int, length: int, background: str | float | Sequence[float] = "uniform",
                     rng: np.random.Generator | int = 0) -> np.ndarray:
    """``(n, length)`` uint8 base codes (A=0 C=1 G=2 T=3) drawn i.i.d. from the background."""
    rng = np.random.default_rng(rng)
    probs = background_probs(background)
    if np.allclose(probs, 0.25):
        return rng.integers(0, 4, (n, length), dtype=np.uint8)  # 5x faster than the general draw
    cum = np.cumsum(probs)
    # searchsorted over the cumulative vector is the fastest i.i.d. categorical draw in numpy.
    return np.minimum(np.searchsorted(cum, rng.random((n, length)), side="right"), 3).astype(np.uint8)


def sample_pwm(pwm: np.ndarray, n: int, rng: np.random.Generator | int = 0) -> np.ndarray:
    """``(n, W)`` codes of motif instances drawn column by column from ``pwm``."""
    rng = np.random.default_rng(rng)
    return _draw(np.cumsum(pwm, axis=1)[None], rng.random((n, len(pwm))))


@dataclass
class PlantedSample:
    """Raw arrays of a planted-motif sample; ``start``/``end`` are -1 and ``motif`` -1 where nothing is planted."""

    codes: np.ndarray       # (n, length) uint8
    labels: np.ndarray      # (n,) int64
    label_names: tuple[str, ...]
    motif: np.ndarray       # (n,) int64 index into motif_names, -1 = none
    motif_names: tuple[str, ...]
    start: np.ndarray       # (n,) int64, 0-based
    end: np.ndarray         # (n,) int64, exclusive
    strand: np.ndarray      # (n,) int8: +1, -1, 0 = none

    def sequences(self) -> list[str]:
        n, L = self.codes.shape
        text = _CHARS[self.codes].tobytes().decode("ascii")
        return [text[i:i + L] for i in range(0, n * L, L)]


def sample_planted(n: int = 1000, length: int = 101, motifs: Sequence[MotifSpec] = ("CTCF",), *,
                   label_rule: str = "auto", include_none: bool = False, positive_fraction: float = 0.5,
                   background: str | float | Sequence[float] = "uniform", both_strands: bool = True,
                   seed: int = 0) -> PlantedSample:
    """Draw ``n`` sequences with planted motifs as raw arrays (see :func:`planted_motif_benchmark`)."""
    if n < 1 or length < 1:
        raise UserError(f"need at least one sequence of length >= 1, got n={n}, length={length}")
    resolved = [get_pwm(m) for m in motifs]
    if not resolved:
        raise UserError("pass at least one motif")
    names = tuple(r[0] for r in resolved)
    widest = max(len(r[1]) for r in resolved)
    if widest > length:
        raise UserError(f"motif of width {widest} does not fit in sequences of length {length}")
    rule = ("presence" if len(resolved) == 1 else "which") if label_rule == "auto" else label_rule
    rng = np.random.default_rng(seed)
    codes = random_sequences(n, length, background, rng)
    if rule == "presence":
        label_names = ("absent", "present")
        labels = (rng.random(n) < positive_fraction).astype(np.int64)
        motif = np.where(labels == 1, rng.integers(0, len(names), n), -1)
    elif rule == "which":
        label_names = (("none",) if include_none else ()) + names
        labels = rng.integers(0, len(label_names), n).astype(np.int64)
        motif = labels - 1 if include_none else labels.copy()
    else:
        raise UserError(f"label_rule {label_rule!r} is not known; use 'presence', 'which' or 'auto'")
    start = np.full(n, -1, np.int64)
    end = np.full(n, -1, np.int64)
    strand = np.zeros(n, np.int8)
    for m, (_, pwm) in enumerate(resolved):
        rows = np.flatnonzero(motif == m)
        if not len(rows):
            continue
        W = len(pwm)
        inst = sample_pwm(pwm, len(rows), rng)
        minus = rng.random(len(rows)) < 0.5 if both_strands else np.zeros(len(rows), bool)
        inst[minus] = 3 - inst[minus, ::-1]  # reverse complement (A<->T, C<->G is 3 - code)
        pos = rng.integers(0, length - W + 1, len(rows))
        codes[rows[:, None], pos[:, None] + np.arange(W)[None, :]] = inst
        start[rows], end[rows], strand[rows] = pos, pos + W, np.where(minus, -1, 1)
    return PlantedSample(codes, labels, label_names, motif, names, start, end, strand)


def planted_motif_benchmark(n: int = 1000, length: int = 101, motifs: Sequence[MotifSpec] = ("CTCF",), *,
                            num_classes: int | None = None, label_rule: str = "auto", include_none: bool = False,
                            positive_fraction: float = 0.5,
                            background: str | float | Sequence[float] = "uniform", both_strands: bool = True,
                            seed: int = 0, splits: Sequence[float] = (0.7, 0.15, 0.15)):
    """A synthetic benchmark as a ``datasets.DatasetDict`` with splits train/validation/test.

    Columns: ``sequence`` (str), ``label`` (``ClassLabel``), ``id`` (``synthetic-<i>``) and the ground truth
    ``motif`` (name, ``""`` when none), ``motif_start`` / ``motif_end`` (0-based, end exclusive, -1 when none) and
    ``motif_strand`` (``+``/``-``/``""``). ``num_classes`` picks the rule when given: 2 with one motif is
    ``presence``; ``len(motifs)`` is ``which``; ``len(motifs) + 1`` is ``which`` with a ``none`` class.
    Splits are stratified with the same seed.
    """
    if num_classes is not None:
        if label_rule == "auto":
            if num_classes == 2 and len(motifs) == 1:
                label_rule = "presence"
            elif num_classes in (len(motifs), len(motifs) + 1) and num_classes >= 2:
                label_rule, include_none = "which", num_classes == len(motifs) + 1
        k = 2 if label_rule == "presence" else len(motifs) + int(include_none)
        if label_rule not in ("presence", "which") or k != num_classes:
            raise UserError(f"num_classes={num_classes} does not fit {len(motifs)} motif(s); use 2 with one motif "
                            f"(presence), or {len(motifs)} / {len(motifs) + 1} (which motif, with a none class)")
    s = sample_planted(n, length, motifs, label_rule=label_rule, include_none=include_none,
                       positive_fraction=positive_fraction, background=background, both_strands=both_strands,
                       seed=seed)
    from zoo.data.splits import SPLITS, stratified_split

    import datasets

    features = datasets.Features({
        "sequence": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(s.label_names)),
        "id": datasets.Value("string"),
        "motif": datasets.Value("string"),
        "motif_start": datasets.Value("int32"),
        "motif_end": datasets.Value("int32"),
        "motif_strand": datasets.Value("string"),
    })
    seqs = s.sequences()
    motif_name = np.array(("",) + s.motif_names, dtype=object)[s.motif + 1]
    strand = np.array(["-", "", "+"], dtype=object)[s.strand + 1]
    parts = stratified_split(s.labels, splits, seed=seed)
    out = {}
    for split, idx in zip(SPLITS, parts):
        out[split] = datasets.Dataset.from_dict({
            "sequence": [seqs[i] for i in idx],
            "label": s.labels[idx].tolist(),
            "id": [f"synthetic-{i}" for i in idx.tolist()],
            "motif": motif_name[idx].tolist(),
            "motif_start": s.start[idx].tolist(),
            "motif_end": s.end[idx].tolist(),
            "motif_strand": strand[idx].tolist(),
        }, features=features)
    return datasets.DatasetDict(out)
