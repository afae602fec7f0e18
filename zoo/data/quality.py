"""What is wrong with a data set: class balance, lengths, N content, duplicates and leakage between splits.

:func:`quality_report` takes a ``DatasetDict`` (any splits) and returns a JSON-serializable dict;
:func:`report_markdown` renders it for ``genozoo data report`` and the dataset card. Duplicates are counted on the
cleaned sequences, upper case:

* *exact* (within a split): rows whose sequence already occurred earlier in the split; *conflicting*: distinct
  sequences that occur with more than one label.
* *reverse complement* (within a split): rows whose reverse complement is another row's sequence (palindromes,
  equal to their own reverse complement, are not counted).
* *leakage* (across splits): rows of a later split (validation, test) whose sequence, or whose reverse complement,
  is in an earlier split (train, validation). A model can memorise these, so test scores on them are inflated.

It also says when labelled data holds a single class (nothing to classify) and when an evaluation split is too
small to measure anything (:func:`small_splits`, the sentence fine-tuning writes into its card too).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations
from typing import Any, Mapping

import numpy as np

__all__ = ["quality_report", "report_markdown", "small_splits", "SPLIT_ORDER", "FEW_SEQUENCES"]

SPLIT_ORDER = ("train", "validation", "test")
#: An evaluation split (validation, test) of fewer sequences gives scores too noisy to trust: one sequence more or
#: less right moves its accuracy by 5 points or more.
FEW_SEQUENCES = 20


def small_splits(sizes: Mapping[str, int]) -> str | None:
    """One sentence about the evaluation splits (validation, test) among ``sizes`` (split -> rows) that hold fewer
    than :data:`FEW_SEQUENCES` sequences, or None when none does."""
    small = [(name, sizes[name]) for name in ("validation", "test") if name in sizes and sizes[name] < FEW_SEQUENCES]
    if not small:
        return None
    plural = {n: f"{n} sequence{'' if n == 1 else 's'}" for _, n in small}
    held = " and ".join(f"the {name} split {'holds ' if i == 0 else ''}only {plural[n]}"
                        for i, (name, n) in enumerate(small))
    return (f"{held}; with fewer than {FEW_SEQUENCES} sequences a split's scores (the best epoch, the reported "
            f"metrics) are too noisy to trust, so give more data")


def _rc_all(seqs: list[str]) -> list[str]:
    # One translate over the whole joined text is far faster than a per-sequence loop.
    table = str.maketrans("ACGTNacgtn", "TGCANtgcan")
    joined = "\x00".join(seqs).translate(table)[::-1]
    return joined.split("\x00")[::-1] if seqs else []


def _ordered(splits) -> list[str]:
    known = [s for s in SPLIT_ORDER if s in splits]
    return known + sorted(s for s in splits if s not in SPLIT_ORDER)


def _length_stats(lengths: np.ndarray, bins: int = 10) -> dict[str, Any]:
    if not len(lengths):
        return {"min": None, "max": None, "mean": None, "median": None, "distinct": 0, "histogram": []}
    lo, hi = int(lengths.min()), int(lengths.max())
    counts, edges = np.histogram(lengths, bins=min(bins, max(1, hi - lo + 1)), range=(lo, hi + 1))
    return {"min": lo, "max": hi, "mean": round(float(lengths.mean()), 2), "median": float(np.median(lengths)),
            "distinct": int(len(np.unique(lengths))),
            "histogram": [[int(a), int(b) - 1, int(c)] for a, b, c in zip(edges[:-1], edges[1:], counts) if c]}


def quality_report(dd: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """A quality report of every split of ``dd`` (a ``DatasetDict`` or ``{split: Dataset}``)."""
    splits = _ordered(list(dd.keys()))
    report: dict[str, Any] = {"name": name, "splits": {}, "leakage": {}, "warnings": []}
    seqsets: dict[str, set[str]] = {}
    rcs: dict[str, list[str]] = {}
    seqs_by: dict[str, list[str]] = {}
    for split in splits:
        ds = dd[split]
        seqs = [s.upper() for s in ds["sequence"]]
        labels = list(ds["label"]) if "label" in ds.column_names else [None] * len(seqs)
        feature = ds.features.get("label") if hasattr(ds, "features") else None
        names = list(getattr(feature, "names", []) or [])
        lab_name = (lambda v: names[v] if names and v is not None and 0 <= v < len(names) else str(v))
        counts = Counter(lab_name(v) for v in labels)
        n = len(seqs)
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
        total = int(lengths.sum())
        n_bases = sum(s.count("N") for s in seqs)
        rows_with_n = sum(1 for s in seqs if "N" in s)
        seen: Counter = Counter(seqs)
        exact = sum(c - 1 for c in seen.values() if c > 1)
        labels_of: dict[str, set] = defaultdict(set)
        for s, v in zip(seqs, labels):
            if seen[s] > 1:
                labels_of[s].add(v)
        conflicting = sum(1 for v in labels_of.values() if len(v) > 1)
        rc = _rc_all(seqs)
        sset = set(seen)
        rc_rows = sum(1 for s, r in zip(seqs, rc) if r != s and r in sset)
        palindromes = sum(1 for s, r in zip(seqs, rc) if r == s)
        report["splits"][split] = {
            "rows": n,
            "labelled": "label" in ds.column_names,
            "classes": {k: counts.get(k, 0) for k in (names or sorted(counts))},
            "class_fraction": {k: round(counts.get(k, 0) / n, 4) if n else 0.0 for k in (names or sorted(counts))},
            "length": _length_stats(lengths),
            "n_fraction": round(n_bases / total, 6) if total else 0.0,
            "rows_with_n": rows_with_n,
            "exact_duplicates": exact,
            "conflicting_label_sequences": conflicting,
            "reverse_complement_duplicates": rc_rows,
            "palindromes": palindromes,
        }
        seqsets[split], rcs[split], seqs_by[split] = sset, rc, seqs
    for a, b in combinations(splits, 2):
        in_a = seqsets[a]
        exact = sum(1 for s in seqs_by[b] if s in in_a)
        rc_only = sum(1 for s, r in zip(seqs_by[b], rcs[b]) if s not in in_a and r in in_a)
        nb = len(seqs_by[b])
        report["leakage"][f"{a}->{b}"] = {
            "exact": exact, "reverse_complement": rc_only,
            "fraction": round((exact + rc_only) / nb, 6) if nb else 0.0}
    report["warnings"] = _warnings(report)
    return report


def _warnings(report: dict) -> list[str]:
    out = []
    for split, r in report["splits"].items():
        present = [k for k, v in r["classes"].items() if v]
        if r["rows"] and r.get("labelled") and len(present) == 1:
            out.append(f"{split}: every row is of one class ({present[0]!r}): "
                       + ("a classifier trained on it learns nothing" if split == "train" else
                          "its scores cannot tell whether a model tells the classes apart"))
        if r["rows"] and r["class_fraction"]:
            fr = [v for v in r["class_fraction"].values()]
            if min(fr) < 0.5 * max(fr) and len(fr) > 1:
                out.append(f"{split}: classes are imbalanced ({', '.join(f'{k} {v:.1%}' for k, v in r['class_fraction'].items())})")
        if r["exact_duplicates"]:
            out.append(f"{split}: {r['exact_duplicates']} exact duplicate row(s)"
                       + (f", {r['conflicting_label_sequences']} sequence(s) with conflicting labels"
                          if r["conflicting_label_sequences"] else ""))
        if r["reverse_complement_duplicates"]:
            out.append(f"{split}: {r['reverse_complement_duplicates']} row(s) whose reverse complement is another row")
        if r["n_fraction"] > 0.01:
            out.append(f"{split}: {r['n_fraction']:.1%} of bases are N")
    if (small := small_splits({split: r["rows"] for split, r in report["splits"].items()})) is not None:
        out.append(small)
    for pair, r in report["leakage"].items():
        if r["exact"] or r["reverse_complement"]:
            a, b = pair.split("->")
            out.append(f"leakage {a} -> {b}: {r['exact']} exact and {r['reverse_complement']} reverse-complement "
                       f"copies of {a} rows in {b} ({r['fraction']:.2%} of {b})")
    return out


def report_markdown(report: Mapping[str, Any], heading_level: int = 2) -> str:
    """The report as Markdown tables (used by ``genozoo data report`` and the dataset card)."""
    h = "#" * heading_level
    splits = list(report["splits"])
    classes = list(dict.fromkeys(k for r in report["splits"].values() for k in r["classes"]))
    lines = [f"{h} Quality report" + (f": {report['name']}" if report.get("name") else ""), ""]
    lines += ["| | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(report["splits"][s]) for s in splits) + " |")

    row("rows", lambda r: f"{r['rows']:,}")
    for c in classes:
        row(f"class `{c}`", lambda r, c=c: f"{r['classes'].get(c, 0):,} ({r['class_fraction'].get(c, 0):.1%})")
    row("length min / median / max", lambda r: f"{r['length']['min']} / {r['length']['median']:g} / "
        f"{r['length']['max']}" if r["rows"] else "-")
    row("N fraction (rows with N)", lambda r: f"{r['n_fraction']:.4%} ({r['rows_with_n']:,})")
    row("exact duplicates", lambda r: f"{r['exact_duplicates']:,}")
    row("sequences with conflicting labels", lambda r: f"{r['conflicting_label_sequences']:,}")
    row("reverse-complement duplicates", lambda r: f"{r['reverse_complement_duplicates']:,}")
    if report["leakage"]:
        lines += ["", f"{h}# Leakage between splits", "",
                  "| from -> into | exact copies | reverse-complement copies | share of the later split |",
                  "|---|---|---|---|"]
        for pair, r in report["leakage"].items():
            lines.append(f"| {pair.replace('->', ' -> ')} | {r['exact']:,} | {r['reverse_complement']:,} | "
                         f"{r['fraction']:.2%} |")
    lines += ["", f"{h}# Findings", ""]
    lines += [f"- {w}" for w in report["warnings"]] or ["- nothing to report: balanced enough, no duplicates, no "
                                                        "leakage."]
    return "\n".join(lines) + "\n"
