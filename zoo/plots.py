"""Figures of a benchmark grid (PNG, matplotlib without pyplot's global state).

:func:`all_figures` draws, from the rows of :func:`zoo.grid.collect` and the run folders they point at:

* ``roc_<tag>.png`` / ``pr_<tag>.png``: test-set ROC and precision-recall curves per dataset, one line per model
  (macro average over classes one-vs-rest for more than two classes, averaged over seeds on a common grid);
* ``dynamics_<tag>.png``: training and validation loss, and validation accuracy, per epoch (mean over seeds);
* ``overfitting.png``: train vs test accuracy of each model on each dataset (the gap is the overfitting);
* ``ranks.png``: the study's robustness view: each model's rank on each dataset and its mean rank.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

__all__ = ["macro_curve", "plot_curves", "plot_dynamics", "plot_overfitting", "plot_ranks", "all_figures",
           "plot_bakeoff"]

GRID = np.linspace(0, 1, 201)


def _save(fig: Figure, path: Path) -> Path:
    from zoo.outputs import atomic_output

    FigureCanvasAgg(fig)
    with atomic_output(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    return path


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def macro_curve(y: np.ndarray, probs: np.ndarray, kind: str = "roc") -> np.ndarray:
    """TPR at :data:`GRID` false-positive rates (``roc``) or interpolated precision at :data:`GRID` recalls
    (``pr``), averaged over classes one-vs-rest (the positive class alone for a binary task)."""
    classes = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    curves = []
    for c in classes:
        yc = (y == c).astype(int)
        if yc.min() == yc.max():
            continue  # undefined for a class that is absent or alone
        if kind == "roc":
            fpr, tpr, _ = roc_curve(yc, probs[:, c])
            curves.append(np.interp(GRID, fpr, tpr))
        else:
            precision, recall, _ = precision_recall_curve(yc, probs[:, c])
            r, p = recall[::-1], precision[::-1]  # ascending recall
            envelope = np.maximum.accumulate(p[::-1])[::-1]  # best precision at this recall or more
            curves.append(np.interp(GRID, r, envelope))
    return np.mean(curves, axis=0) if curves else np.full_like(GRID, np.nan)


def _predictions(run_dir: str) -> tuple[np.ndarray, np.ndarray] | None:
    from safetensors.numpy import load_file

    path = Path(run_dir) / "predictions_test.safetensors"
    if not path.exists():
        return None
    d = load_file(str(path))
    return d["labels"], d["probs"].astype(np.float64)


def _by_arch(rows: list[dict], tag: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["tag"] == tag:
            out.setdefault(r["arch"], []).append(r)
    return dict(sorted(out.items()))


def plot_curves(rows: list[dict], tag: str, kind: str, path: Path) -> Path | None:
    """ROC (``kind="roc"``) or PR (``"pr"``) curves of every model on dataset ``tag``."""
    groups = _by_arch(rows, tag)
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    metric = "test_auroc" if kind == "roc" else "test_auprc"
    drawn = 0
    for color, (arch, rs) in zip(_colors(len(groups)), groups.items()):
        curves = [macro_curve(*p, kind) for p in map(_predictions, (r["run_dir"] for r in rs)) if p is not None]
        if not curves:
            continue
        score = statistics.fmean(float(r[metric]) for r in rs)
        ax.plot(GRID, np.mean(curves, axis=0), color=color, lw=1.4, label=f"{arch} ({score:.3f})")
        drawn += 1
    if not drawn:
        return None
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC on {tag} (test)")
    else:
        ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall on {tag} (test)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left",
              title=f"mean {'AUROC' if kind == 'roc' else 'AUPRC'} over seeds", title_fontsize=7)
    return _save(fig, path)


def _mean_by_epoch(logs: list[list[dict]], key: str) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(log) for log in logs)
    means = []
    for i in range(longest):
        vals = [log[i][key] for log in logs if i < len(log) and key in log[i]]
        means.append(statistics.fmean(vals) if vals else math.nan)
    return np.arange(1, longest + 1), np.array(means)


def plot_dynamics(rows: list[dict], tag: str, path: Path) -> Path | None:
    """Loss (train dashed, validation solid) and validation accuracy per epoch on dataset ``tag``."""
    groups = _by_arch(rows, tag)
    fig = Figure(figsize=(12, 4.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for color, (arch, rs) in zip(_colors(len(groups)), groups.items()):
        logs = [json.loads((Path(r["run_dir"]) / "epochs.json").read_text()) for r in rs
                if (Path(r["run_dir"]) / "epochs.json").exists()]
        if not logs:
            continue
        x, train = _mean_by_epoch(logs, "train_loss")
        ax_loss.plot(x, train, color=color, ls="--", lw=1)
        ax_loss.plot(*_mean_by_epoch(logs, "val_loss"), color=color, lw=1.4, label=arch)
        ax_acc.plot(*_mean_by_epoch(logs, "val_accuracy"), color=color, lw=1.4, label=arch)
        ax_acc.plot(*_mean_by_epoch(logs, "train_accuracy"), color=color, ls="--", lw=1)
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{tag}: loss (dashed = train, solid = validation)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{tag}: accuracy (dashed = train, solid = validation)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_overfitting(agg: dict, path: Path) -> Path:
    """Train and test accuracy (mean +- sd over seeds) of every model, one panel per dataset."""
    tags = list(agg)
    height = max(3.0, 0.35 * max(len(a) for a in agg.values()) + 1.2)
    fig = Figure(figsize=(5.2 * len(tags), height))
    axes = np.atleast_1d(fig.subplots(1, len(tags), squeeze=False)[0])
    for ax, tag in zip(axes, tags):
        archs = sorted(agg[tag], key=lambda a: agg[tag][a].get("test_accuracy", (0, 0))[0])
        y = np.arange(len(archs))
        for offset, split, color in ((0.2, "train_accuracy", "#d95f02"), (-0.2, "test_accuracy", "#1b9e77")):
            m = [agg[tag][a].get(split, (math.nan, 0))[0] for a in archs]
            sd = [agg[tag][a].get(split, (0, 0))[1] for a in archs]
            ax.barh(y + offset, m, height=0.4, xerr=sd, color=color, label=split.replace("_", " "))
        for yi, a in zip(y, archs):
            gap = agg[tag][a]["gap"][0]
            if not math.isnan(gap):
                ax.text(1.0, yi, f" gap {gap:+.3f}", va="center", fontsize=7)
        ax.set_yticks(y, archs, fontsize=7)
        lo = min(agg[tag][a].get(s, (1, 0))[0] - agg[tag][a].get(s, (0, 0))[1]
                 for a in archs for s in ("train_accuracy", "test_accuracy"))
        ax.set(xlim=(max(0.0, lo - 0.05), 1.0), xlabel="accuracy", title=f"{tag}: train vs test accuracy")
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncols=2, bbox_to_anchor=(0.5, 1.0))
    return _save(fig, path)


def plot_ranks(ranks: dict[str, dict[str, float]], agg: dict, path: Path) -> Path:
    """Heatmap of each model's rank per dataset (by mean test accuracy) and its mean rank, best first."""
    from zoo.summary import rank_order

    tags = list(agg)
    archs = rank_order(ranks)
    table = np.array([[ranks[a].get(t, math.nan) for t in tags] + [statistics.fmean(ranks[a].values())]
                      for a in archs])
    fig = Figure(figsize=(2.0 + 1.3 * (len(tags) + 1), 1.0 + 0.38 * len(archs)))
    ax = fig.add_subplot()
    im = ax.imshow(table, cmap="viridis_r", aspect="auto")
    for i, a in enumerate(archs):
        for j, t in enumerate(tags + ["mean"]):
            v = table[i, j]
            acc = agg[t][a].get("test_accuracy", (math.nan, 0))[0] if t in agg and a in agg[t] else math.nan
            of = f"\n({len(ranks[a])} of {len(tags)})" if len(ranks[a]) < len(tags) else ""
            text = "-" if math.isnan(v) else (f"{v:.2f}{of}" if t == "mean" else f"{v:g}\n({acc:.3f})")
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > np.nanmean(table) else "black")
    ax.set_xticks(range(len(tags) + 1), tags + ["mean rank"], fontsize=8)
    ax.set_yticks(range(len(archs)), archs, fontsize=8)
    ax.set_title("Rank by mean test accuracy (1 = best; test accuracy in brackets)", fontsize=9)
    fig.colorbar(im, ax=ax, label="rank")
    return _save(fig, path)


def all_figures(rows: list[dict], agg: dict, ranks: dict,
                out_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """Every figure of the grid into ``out_dir``; returns ``(written, kept)``.

    The curves and dynamics of a dataset are drawn from the run folders; where some of its rows have none here
    (rows merged from an earlier table) and the figure exists, it is kept rather than redrawn without them.
    """
    out_dir = Path(out_dir)
    written: list[Path | None] = []
    kept: list[Path] = []
    for tag in agg:
        complete = all(Path(r["run_dir"]).is_dir() for r in rows if r["tag"] == tag)
        for kind in ("roc", "pr", "dynamics"):
            path = out_dir / f"{kind}_{tag}.png"
            if not complete and path.exists():
                kept.append(path)
            else:
                written.append(plot_dynamics(rows, tag, path) if kind == "dynamics"
                               else plot_curves(rows, tag, kind, path))
    written.append(plot_overfitting(agg, out_dir / "overfitting.png"))
    written.append(plot_ranks(ranks, agg, out_dir / "ranks.png"))
    return [p for p in written if p is not None], kept


def plot_bakeoff(board: list[dict], metric: str, path: Path) -> Path:
    """The bake-off leaderboard as horizontal bars: mean test ``metric`` ± sd over seeds per (model, mode),
    coloured by family, each labelled with its training time."""
    fig = Figure(figsize=(7.5, 0.45 * len(board) + 1.4))
    ax = fig.add_subplot()
    families = sorted({r["family"] for r in board})
    colors = dict(zip(families, _colors(len(families))))
    rows = list(reversed(board))  # best on top
    means = [r[metric][0] for r in rows]
    sds = [r[metric][1] or 0.0 for r in rows]
    ax.barh(range(len(rows)), means, xerr=sds, color=[colors[r["family"]] for r in rows],
            hatch=None, alpha=0.85, capsize=3)
    for i, r in enumerate(rows):
        if r["mode"] == "from scratch":
            ax.patches[i].set_hatch("//")
        ax.text(0.01, i, f"{r['seconds']:.1f} s" if r["seconds"] < 10 else f"{r['seconds']:.0f} s", va="center", ha="left", fontsize=8, color="white")
    ax.set_yticks(range(len(rows)), [f"{r['model']} ({r['mode']})" for r in rows], fontsize=8)
    ax.set_xlabel(f"test {metric} (mean ± sd over seeds; hatched: from scratch)")
    if metric != "mcc":  # MCC can be negative
        ax.set_xlim(0, 1.0)
    handles = [ax.bar(0, 0, color=colors[f], label=f) for f in families]
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    ax.set_title("Which baseline for this data?")
    return _save(fig, path)
