"""Synthetic planted-motif benchmarks and the split protocols: ground truth, determinism, stratification."""
import numpy as np
import pytest

from zoo.data import PWMS, get_pwm, planted_motif_benchmark, sample_planted, stratified_split
from zoo.data.splits import paper_splice_split, split_sizes, study_split
from zoo.data.synthetic import background_probs, iupac_pwm, random_sequences
from zoo.errors import UserError


def _log_odds(codes: np.ndarray, pwm: np.ndarray) -> np.ndarray:
    """Best log-odds score of ``pwm`` (either strand) per row of codes, against a uniform background."""
    lo = np.log(np.maximum(pwm, 1e-3) / 0.25)
    W = len(pwm)
    win = np.lib.stride_tricks.sliding_window_view(codes, W, axis=1)  # (n, P, W)
    fwd = lo[np.arange(W), win].sum(-1)
    rev = lo[np.arange(W), (3 - win)[..., ::-1]].sum(-1)
    return np.maximum(fwd, rev).max(axis=1)


def test_planted_ground_truth_is_the_motif():
    s = sample_planted(2000, 101, ("CTCF",), seed=1)
    pos = np.flatnonzero(s.labels == 1)
    neg = np.flatnonzero(s.labels == 0)
    assert 800 < len(pos) < 1200
    assert (s.start[neg] == -1).all() and (s.end[neg] == -1).all() and (s.strand[neg] == 0).all()
    assert ((s.end[pos] - s.start[pos]) == 19).all() and (s.start[pos] >= 0).all() and (s.end[pos] <= 101).all()
    pwm = PWMS["CTCF"]
    # The planted window itself, read on its strand, scores like a motif instance; backgrounds do not.
    lo = np.log(np.maximum(pwm, 1e-3) / 0.25)
    planted = np.stack([s.codes[i, s.start[i]:s.end[i]] for i in pos])
    minus = s.strand[pos] == -1
    planted[minus] = 3 - planted[minus, ::-1]
    planted_score = lo[np.arange(19), planted].sum(-1)
    neg_best = _log_odds(s.codes[neg], pwm)
    assert np.median(planted_score) > np.quantile(neg_best, 0.99)
    assert 0.4 < minus.mean() < 0.6  # both strands used


def test_benchmark_columns_splits_and_determinism():
    d = planted_motif_benchmark(n=400, length=60, motifs=("GATA1",), seed=3)
    assert list(d) == ["train", "validation", "test"]
    assert [d[k].num_rows for k in d] == [280, 60, 60]
    assert d["train"].features["label"].names == ["absent", "present"]
    row = next(r for r in d["train"] if r["label"] == 1)
    seq = row["sequence"][row["motif_start"]:row["motif_end"]]
    assert len(seq) == 6 and row["motif"] == "GATA1" and row["motif_strand"] in "+-"
    ids = sum((list(d[k]["id"]) for k in d), [])
    assert len(set(ids)) == 400
    again = planted_motif_benchmark(n=400, length=60, motifs=("GATA1",), seed=3)
    assert list(again["test"]["sequence"]) == list(d["test"]["sequence"])
    other = planted_motif_benchmark(n=400, length=60, motifs=("GATA1",), seed=4)
    assert list(other["test"]["sequence"]) != list(d["test"]["sequence"])


def test_which_rule_with_none_class_and_gc_background():
    d = planted_motif_benchmark(n=600, length=80, motifs=("CTCF", "SP1", "TATA"), num_classes=4,
                                background=0.7, seed=0)
    names = d["train"].features["label"].names
    assert names == ["none", "CTCF", "SP1", "TATA"]
    for r in d["validation"]:
        assert r["motif"] == ("" if r["label"] == 0 else names[r["label"]])
    seqs = "".join(d["train"]["sequence"])
    gc = (seqs.count("G") + seqs.count("C")) / len(seqs)
    assert 0.67 < gc < 0.73


def test_user_matrix_and_errors():
    name, pwm = get_pwm(("mine", [[1, 0, 0, 0], [0, 0, 0, 1]]))
    s = sample_planted(50, 10, [(name, pwm)], positive_fraction=1.0, both_strands=False, seed=0)
    assert all(seq[a:b] == "AT" for seq, a, b in zip(s.sequences(), s.start, s.end))
    with pytest.raises(UserError, match="unknown motif"):
        get_pwm("NOT_A_MOTIF_XYZ")
    with pytest.raises(UserError, match="does not fit"):
        sample_planted(10, 5, ("CTCF",))
    with pytest.raises(UserError, match="num_classes=5"):
        planted_motif_benchmark(n=10, motifs=("CTCF",), num_classes=5)
    with pytest.raises(UserError, match="GC fraction"):
        background_probs(1.5)
    with pytest.raises(UserError, match="IUPAC"):
        iupac_pwm("ACGZ")


def test_background_uniform_fast_path_is_uniform():
    codes = random_sequences(2000, 50, "uniform", 0)
    counts = np.bincount(codes.ravel(), minlength=4) / codes.size
    assert np.allclose(counts, 0.25, atol=0.01)


def test_stratified_split_exact_sizes_and_ratios():
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=3190, p=[0.24, 0.24, 0.52])
    parts = stratified_split(y, (0.7, 0.15, 0.15), seed=3264)
    assert [len(p) for p in parts] == split_sizes(3190, (0.7, 0.15, 0.15)) == [2233, 479, 478]
    assert split_sizes(14965, (0.7, 0.15, 0.15)) == [10475, 2245, 2245]  # the study's histone sizes
    allidx = np.concatenate(parts)
    assert len(np.unique(allidx)) == 3190
    overall = np.bincount(y) / len(y)
    for p in parts:
        assert np.abs(np.bincount(y[p], minlength=3) / len(p) - overall).max() < 0.01
    again = stratified_split(y, (0.7, 0.15, 0.15), seed=3264)
    assert all((a == b).all() for a, b in zip(parts, again))
    train, val, test = paper_splice_split(y, seed=0)
    assert [len(train), len(val), len(test)] == [2033, 359, 798] and len(set(train) | set(val) | set(test)) == 3190


def test_study_split_reproduces_the_papers_histone_sizes():
    y = np.r_[np.zeros(7000, int), np.ones(7965, int)]
    parts = study_split(y, seed=3264)
    assert [len(p) for p in parts] == [10475, 2245, 2245]
    assert all((a == b).all() for a, b in zip(parts, study_split(y, seed=3264)))
    assert not all((a == b).all() for a, b in zip(parts, study_split(y, seed=1)))


def test_builtin_ctcf_is_jaspar_ma0139():
    pytest.importorskip("pyjaspar", reason="pyjaspar (optional extra genozoo[jaspar]) is not installed")
    name, pwm = get_pwm("MA0139.1")
    assert name == "MA0139.1" and pwm.shape == (19, 4)
    assert np.allclose(pwm, PWMS["CTCF"])
    s = sample_planted(20, 40, ("MA0035",), positive_fraction=1.0, seed=0)  # GATA1 from JASPAR, latest version
    assert s.motif_names == ("MA0035",) and (s.end - s.start > 0).all()
