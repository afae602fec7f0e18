"""The benchmark grid: every architecture x dataset x seed, resumable, summarized as a table, a leaderboard and plots.

:func:`benchmark` trains each cell with :func:`zoo.recipes.run` (a cell whose ``metrics.json`` exists is skipped,
one with a checkpoint is resumed, so re-running the same command continues an interrupted grid), then
:func:`summarize` writes into the grid folder

* ``results.csv``: one row per arch x dataset x seed with train/validation/test loss and metrics;
* ``leaderboard.md``: per dataset, mean +- sd over seeds of every metric, the overfitting gap (train minus test
  accuracy), the mean rank of each model across datasets, and the study's figure beside ours;
* ``figures/*.png`` (:mod:`zoo.plots`): ROC and PR curves per dataset, training dynamics, overfitting gap, ranks.

Run folders are the source of truth, but they stay on the machine that trained them. ``merge=`` (``--merge``)
carries forward the rows of an earlier ``results.csv`` (the committed ``train/results/results.csv``) for cells
with no run folder here, so a grid continued on another machine extends the table instead of replacing it.

A dataset is named by its recipe tag (``splice``, ``histone_h3_gue``, ``motif_ctcf``, ``motif_ezh2``): a cell uses
``train/recipes/<arch>.<tag>.yaml``. Any other name (a ``zoo.data`` benchmark or a data folder) gets the default
recipe. Command-line overrides (``--epochs=2``) apply to every cell.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
import traceback
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm.auto import tqdm

from zoo.checkpoint import atomic_write_text
from zoo.data.splits import RESPLIT_MARK, RESPLIT_NOTE, is_test_resplit
from zoo import study
from zoo.errors import UserError
from zoo.metrics import METRICS
from zoo.resources import resource_dir
from zoo.recipes import Recipe, load_data, load_recipe, parse_overrides, run, run_dir_for
from zoo.summary import format_mean_sd, rank_order

__all__ = ["STUDY_RESULTS", "STUDY_TASK", "RECIPES_DIR", "expand_archs", "plan", "benchmark", "collect",
           "read_results_csv", "merged_rows", "write_results_csv", "leaderboard", "summarize"]

RECIPES_DIR = resource_dir("train/recipes")

STUDY_RESULTS = study.RESULTS
STUDY_TASK = study.TASK_OF_TAG
STUDY_ARCHS = study.ARCHS
_SUMMARY_METRICS = ("accuracy",) + tuple(m for m in METRICS if m != "accuracy")


def expand_archs(pattern: str | Sequence[str]) -> list[str]:
    """Architectures matching comma-separated shell patterns; ``study`` names the study's 13."""
    from zoo.registry import list_models

    patterns = pattern.split(",") if isinstance(pattern, str) else list(pattern)
    names: list[str] = []
    for p in (p.strip() for p in patterns if p.strip()):
        found = list(STUDY_ARCHS) if p == "study" else list_models(p)
        if not found:
            raise UserError(f"no architecture matches {p!r}; run `genozoo list` to see them")
        names += [n for n in found if n not in names]
    return names


def plan(archs: Sequence[str], datasets: Sequence[str], seeds: int | Sequence[int],
         recipes_dir: str | Path | None = None, overrides: Sequence[str] | dict = ()) -> list[tuple[Recipe, int]]:
    """The cells of the grid: ``(recipe, seed)`` per dataset x arch x seed, recipes resolved and checked."""
    from zoo.data.registry import get_benchmark

    recipes_dir = Path(recipes_dir) if recipes_dir is not None else RECIPES_DIR
    if not recipes_dir.is_dir():
        raise UserError(f"recipe folder {str(recipes_dir)!r} does not exist; check --recipes")
    if isinstance(seeds, int) and seeds < 1 or not isinstance(seeds, int) and (not seeds or min(seeds) < 0):
        raise UserError(f"seeds must be a count of at least 1 or seeds of 0 or more, not {seeds}")
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    cells = []
    for dataset in datasets:
        for arch in archs:
            path = recipes_dir / f"{arch}.{dataset}.yaml"
            if not path.exists() and not Path(dataset).exists():
                get_benchmark(dataset)  # neither a recipe tag nor data: one sentence before any cell trains
            recipe = load_recipe(path, extra) if path.exists() else load_recipe(None, extra, arch=arch,
                                                                                 dataset=dataset)
            chosen = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
            if isinstance(seeds, int) and path.exists() and len(recipe.seeds) >= seeds:
                chosen = recipe.seeds[:seeds]  # the recipe's own seeds, as published weights used them
            cells += [(recipe, s) for s in chosen]
    return cells


def benchmark(archs: str | Sequence[str], datasets: Sequence[str], seeds: int | Sequence[int] = 3, *,
              out_dir: str | Path = "runs/benchmark", recipes_dir: str | Path | None = None,
              overrides: Sequence[str] | dict = (), quiet: bool = False, figures: bool = True,
              report_dir: str | Path | None = None, merge: str | Path | None = None) -> dict[str, Any]:
    """Run every unfinished cell, then :func:`summarize`. Returns the summary plus the cells that failed."""
    out_dir = Path(out_dir)
    cells = plan(expand_archs(archs), list(datasets), seeds, recipes_dir, overrides)
    failures: list[dict[str, str]] = []
    cache: dict[str, Any] = {}
    bar = tqdm(cells, desc="grid", disable=quiet, dynamic_ncols=True)
    for recipe, seed in bar:
        folder = run_dir_for(recipe, seed, out_dir)
        bar.set_postfix_str(f"{recipe.name} seed {seed}")
        if (folder / "metrics.json").exists():
            continue
        key = json.dumps([recipe.dataset, recipe.source, recipe.data_args], sort_keys=True)
        try:
            if key not in cache:
                cache[key] = load_data(recipe)
            run(recipe, seed, out_dir, resume=True, data=cache[key])
        except Exception as e:  # one broken cell must not stop a day-long grid; it is reported below
            # A user error is its sentence; anything else also keeps its traceback, in the log, not on the screen.
            error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            failures.append({"cell": f"{recipe.name} seed {seed}", "error": error,
                             "traceback": "" if isinstance(e, UserError) else traceback.format_exc(limit=5)})
            atomic_write_text(out_dir / "failures.log", "\n".join(
                f"{f['cell']}: {f['error']}\n{f['traceback']}".rstrip() for f in failures) + "\n")
            if not quiet:
                tqdm.write(f"FAILED {recipe.name} seed {seed}: {error}")
    summary = summarize(out_dir, figures=figures, report_dir=report_dir, merge=merge)
    summary["failures"] = failures
    return summary


# -------------------------------------------------------------------------------------------- results
def collect(out_dir: str | Path) -> list[dict[str, Any]]:
    """One flat row per finished run folder under ``out_dir`` (``<arch>.<tag>/seed<S>/metrics.json``)."""
    rows = []
    for done in sorted(Path(out_dir).glob("*/seed*/metrics.json")):
        m = json.loads(done.read_text())
        recipe = load_recipe(done.parent / "recipe.yaml")
        row: dict[str, Any] = {"arch": recipe.arch, "tag": recipe.tag, "dataset": recipe.dataset,
                               "seed": m["seed"], "best_epoch": m["best_epoch"], "epochs_run": m["epochs_run"],
                               "train_seconds": round(m["train_seconds"], 2), "num_params": m["num_params"],
                               "split": recipe.split or ""}
        for split in ("test", "validation", "train"):
            for k, v in m.get(split, {}).items():
                row[f"{split}_{k}"] = v
        row["run_dir"] = str(done.parent)
        rows.append(row)
    return rows


def _typed(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def read_results_csv(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv`` written by :func:`write_results_csv`, numbers as numbers."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no results table at {path}")
    with path.open(newline="") as f:
        rows = [{k: _typed(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    if rows and not {"arch", "tag", "seed", "test_accuracy"} <= rows[0].keys():
        raise UserError(f"{path} is not a genozoo results table: it lacks arch, tag, seed or test_accuracy")
    return rows


def merged_rows(out_dir: str | Path, merge: str | Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """:func:`collect` plus, with ``merge``, the rows of that earlier ``results.csv`` for every arch x tag x seed
    with no finished run under ``out_dir``. Returns ``(rows, how many were carried)``."""
    rows = collect(out_dir)
    if merge is None:
        return rows, 0
    here = {(r["arch"], r["tag"], r["seed"]) for r in rows}
    old = [r for r in read_results_csv(merge) if (r["arch"], r["tag"], r["seed"]) not in here]
    return sorted(rows + old, key=lambda r: (r["arch"], r["tag"], r["seed"])), len(old)


def write_results_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _fmt_study(fig: tuple[float, float | None] | None) -> str:
    if not fig:
        return "-"
    return f"{fig[0]:.3f}" + (f" ({fig[1]:.3f})" if fig[1] is not None else "")


def _mean_sd(values: Iterable[float]) -> tuple[float, float]:
    v = [x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return math.nan, math.nan
    return statistics.fmean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, tuple[float, float]]]]:
    """``{tag: {arch: {column: (mean, sd)}}}`` over seeds, plus the ``gap`` (train - test accuracy)."""
    out: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["tag"], r["arch"]), []).append(r)
    for (tag, arch), rs in sorted(groups.items()):
        cols = {c: _mean_sd(float(r[c]) for r in rs if c in r)
                for c in rs[0] if c.startswith(("test_", "validation_", "train_")) and c != "train_seconds"}
        cols["gap"] = _mean_sd(float(r["train_accuracy"]) - float(r["test_accuracy"]) for r in rs
                               if "train_accuracy" in r and "test_accuracy" in r)
        cols["n"] = (len(rs), 0.0)
        cols["best_epoch"] = _mean_sd(float(r["best_epoch"]) for r in rs)
        cols["num_params"] = (float(rs[0]["num_params"]), 0.0)
        out.setdefault(tag, {})[arch] = cols
    return out


def ranks(agg: dict, metric: str = "test_accuracy") -> dict[str, dict[str, float]]:
    """``{arch: {tag: rank}}``: 1 is the best mean ``metric`` on that dataset (ties share the mean rank)."""
    out: dict[str, dict[str, float]] = {}
    for tag, archs in agg.items():
        scores = {a: c.get(metric, (math.nan, 0))[0] for a, c in archs.items()}
        ordered = sorted(scores, key=lambda a: -scores[a] if not math.isnan(scores[a]) else math.inf)
        i = 0
        while i < len(ordered):
            j = i
            while j + 1 < len(ordered) and scores[ordered[j + 1]] == scores[ordered[i]]:
                j += 1
            for a in ordered[i:j + 1]:
                out.setdefault(a, {})[tag] = (i + j) / 2 + 1
            i = j + 1
    return out


def leaderboard(rows: list[dict[str, Any]]) -> str:
    """The Markdown leaderboard: one table per dataset (sorted by mean test accuracy), then the rank table."""
    agg = aggregate(rows)
    lines = ["# Benchmark leaderboard", "",
             "Test-set metrics, mean ± sd over seeds (n = number of seeds). *gap* = train accuracy - test accuracy "
             "(overfitting). *study* = test accuracy (AUROC) reported by Zhang et al. 2022 for the same "
             "architecture, a single run on the study's own split.", ""]
    header = ["model", "n", *[f"test {m}" for m in _SUMMARY_METRICS], "train accuracy", "gap", "best epoch",
              "params", "study"]
    for tag, archs in agg.items():
        split = next((r["split"] for r in rows if r["tag"] == tag and r.get("split")), "")
        lines += [f"## {tag}", "", *([f"Data: {split}.", ""] if split else []),
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        order = sorted(archs, key=lambda a: -archs[a].get("test_accuracy", (-1, 0))[0])
        for arch in order:
            c = archs[arch]
            fig = STUDY_RESULTS.get(arch, {}).get(STUDY_TASK.get(tag, tag))
            n = int(c["n"][0])

            def fmt(column: str, mark: str = "") -> str:
                return format_mean_sd(*c.get(column, (math.nan, 0.0)), n=n) + mark

            mark = f" {RESPLIT_MARK}" if is_test_resplit(split) else ""  # beside each test number
            cells = [arch, str(n), *[fmt(f"test_{m}", mark) for m in _SUMMARY_METRICS], fmt("train_accuracy"),
                     fmt("gap"),
                     f"{c['best_epoch'][0]:.1f}", f"{int(c['num_params'][0]):,}",
                     _fmt_study(fig)]
            lines.append("| " + " | ".join(cells) + " |")
        if is_test_resplit(split):
            lines += ["", RESPLIT_NOTE + "."]
        lines.append("")
    r = ranks(agg)
    tags = list(agg)
    lines += ["## Rank across datasets (1 = best mean test accuracy)", "",
              "Models ranked on every dataset first; a mean over fewer datasets says over how many.", "",
              "| model | " + " | ".join(tags) + " | mean rank |", "|" + "---|" * (len(tags) + 2)]
    for arch in rank_order(r):
        cells = [f"{r[arch][t]:g}" if t in r[arch] else "-" for t in tags]
        partial = f" ({len(r[arch])} of {len(tags)})" if len(r[arch]) < len(tags) else ""
        lines.append(f"| {arch} | " + " | ".join(cells) + f" | {statistics.fmean(r[arch].values()):.2f}{partial} |")
    return "\n".join(lines) + "\n"


def summarize(out_dir: str | Path, figures: bool = True, report_dir: str | Path | None = None,
              merge: str | Path | None = None) -> dict[str, Any]:
    """Write ``results.csv``, ``leaderboard.md`` and (optionally) the figures for the runs under ``out_dir``
    into ``report_dir`` (default: ``out_dir``).

    ``merge``: an earlier ``results.csv`` whose rows are kept for every arch x tag x seed with no finished run
    under ``out_dir`` (a run here replaces its old row). Per-dataset figures need the run folders, so a dataset
    with carried rows keeps its existing curve figures (listed under ``"kept"``) rather than losing models.
    """
    out_dir = Path(out_dir)
    report = Path(report_dir) if report_dir is not None else out_dir
    rows, carried = merged_rows(out_dir, merge)
    if not rows:
        raise UserError(f"no finished runs under {out_dir}; nothing to summarize")
    report.mkdir(parents=True, exist_ok=True)
    write_results_csv(rows, report / "results.csv")
    atomic_write_text(report / "leaderboard.md", leaderboard(rows))
    written: list[Path] = []
    kept: list[Path] = []
    if figures:
        from zoo import plots  # matplotlib is only needed here

        written, kept = plots.all_figures(rows, aggregate(rows), ranks(aggregate(rows)), report / "figures")
    return {"rows": len(rows), "carried": carried, "results": str(report / "results.csv"),
            "leaderboard": str(report / "leaderboard.md"), "figures": [str(p) for p in written],
            "kept": [str(p) for p in kept]}
