"""Which baseline for my data? The study's question (Zhang et al. 2022: no model leads on every task) asked of the
user's own data: fine-tune several published baselines, optionally train the same architectures from scratch, all
under one protocol (same data, splits, epochs, learning rate, batch size and seeds), then rank them.

:func:`select_models` turns ``"best"`` (the best published architecture of each family, by its mean rank over the
published tasks), ``"family:deepram"``, ``"all"`` or a list of names (``arch.tag``, a bare architecture, a model
folder) into candidates; for an architecture it picks the published weight whose input length is closest to the
data's. :func:`bakeoff` trains every candidate once per seed with :func:`zoo.finetune.finetune` and returns a
:class:`BakeoffResult`; :func:`write_report` writes ``results.csv`` (one row per run), ``leaderboard.md`` (mean ±
sd over seeds, time, parameters), ``bakeoff.png`` and ``recommendation.md`` (the pick and why). Runs whose model
learned nothing (:func:`zoo.engine.learned_nothing`) are marked in ``results.csv`` (``learned_nothing``), named in
the recommendation and in one warning (:func:`learned_nothing_note`).

Default budget (``genozoo bakeoff``): the best model of each family (6), 3 epochs, 2 seeds, at most 5,000
training sequences (a stratified subsample; validation and test stay whole): 15.6 CPU-minutes on one thread for
10,000 sequences of 101 bp (measured, README), minutes on a laptop's cores.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import math
import os
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from zoo.errors import UserError

__all__ = ["Candidate", "BakeoffResult", "select_models", "bakeoff", "leaderboard_rows", "recommend",
           "learned_nothing_note", "write_report", "check_report_folder", "min_train", "REPORT_FILES", "METRICS"]

METRICS = ("accuracy", "auroc", "mcc")


@dataclass(frozen=True)
class Candidate:
    """One model of the bake-off: ``spec`` is what :func:`zoo.finetune.finetune` loads (``arch.tag`` or a folder),
    or the bare ``arch`` when it has no published weights (then it can only be trained from scratch)."""

    name: str
    arch: str
    family: str
    spec: str
    pretrained: bool


@dataclass
class BakeoffResult:
    rows: list[dict[str, Any]]            # one per (model, mode, seed): metrics, seconds, params
    candidates: list[Candidate]
    data_name: str
    split: str
    sizes: dict[str, int]
    settings: dict[str, Any]
    metric: str = "accuracy"
    files: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- candidates
def _published() -> dict[str, list]:
    """Published records by architecture."""
    import zoo

    out: dict[str, list] = {}
    for name in zoo.list_models(pretrained=True):
        cfg = zoo.pretrained_cfg(name)
        out.setdefault(cfg.arch, []).append(cfg)
    return out


def mean_ranks(published: dict[str, list] | None = None) -> dict[str, float]:
    """Each published architecture's mean rank by mean test accuracy over every published task (1 = best; equal
    accuracies share the mean of their places, as in the leaderboard). A task publishes only its leading models, so
    an architecture missing from a task ranks just below its last one."""
    published = _published() if published is None else published
    by_tag: dict[str, list[tuple[float, str]]] = {}
    for arch, cfgs in published.items():
        for c in cfgs:
            by_tag.setdefault(c.tag, []).append((-float(c.metrics.get("accuracy", {}).get("mean", 0.0)), arch))
    ranks: dict[str, list[int]] = {a: [] for a in published}
    for rows in by_tag.values():
        ordered = sorted(rows)
        placed = {arch: statistics.fmean(i for i, (other, _) in enumerate(ordered, 1) if other == acc)
                  for acc, arch in ordered}
        for arch in published:
            ranks[arch].append(placed.get(arch, len(rows) + 1))
    return {a: statistics.fmean(r) for a, r in ranks.items()}


def _weight_for(arch: str, cfgs: list, seq_len: int | None):
    """The published weight of ``arch`` whose length is closest to the data's (then the most accurate)."""
    return min(cfgs, key=lambda c: (abs(c.seq_len - seq_len) if seq_len else 0,
                                    -float(c.metrics.get("accuracy", {}).get("mean", 0.0))))


def select_models(models: str | Sequence[str] = "best", seq_len: int | None = None) -> list[Candidate]:
    """Candidates for ``models``: ``best`` (the best published architecture of each family by mean rank), ``all``,
    ``family:NAME``, or names (``arch.tag``, a bare architecture, a model folder; comma-separated or a list)."""
    from zoo.registry import is_classifier, is_model, list_families, model_family

    published = _published()
    ranks = mean_ranks(published)
    items = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    chosen: list[Candidate] = []

    def add_arch(arch: str) -> None:
        if arch in published:
            cfg = _weight_for(arch, published[arch], seq_len)
            chosen.append(Candidate(cfg.name, arch, model_family(arch), cfg.name, True))
        else:
            chosen.append(Candidate(arch, arch, model_family(arch), arch, False))

    for item in items:
        if item in ("best", "all"):
            families: dict[str, list[str]] = {}
            for arch in sorted(published, key=lambda a: (ranks.get(a, math.inf), a)):
                families.setdefault(model_family(arch), []).append(arch)
            for fam in sorted(families):
                for arch in families[fam][:1] if item == "best" else families[fam]:
                    add_arch(arch)
        elif item.startswith("family:"):
            fam = item.split(":", 1)[1]
            archs = list_families().get(fam)
            if not archs:
                raise UserError(f"no model family {fam!r}; families: {', '.join(sorted(list_families()))}")
            for arch in sorted(archs, key=lambda a: (ranks.get(a, math.inf), a)):
                if is_classifier(arch):
                    add_arch(arch)
        elif Path(item).is_dir():
            from zoo.hub import read_config

            arch = read_config(Path(item) / "config.json").get("arch", "")
            chosen.append(Candidate(Path(item).name, arch, model_family(arch) if arch else "", item, True))
        elif "." in item:
            cfg = _published_cfg(item)
            chosen.append(Candidate(cfg.name, cfg.arch, model_family(cfg.arch), cfg.name, True))
        elif any(ch in item for ch in "*?["):
            matched = [a for a in sorted(set(published) | set(sum(list_families().values(), [])))
                       if fnmatch.fnmatchcase(a, item) and is_classifier(a)]
            if not matched:
                raise UserError(f"no architecture matches {item!r}; see `genozoo list`")
            for arch in matched:
                add_arch(arch)
        else:
            if not is_model(item):
                from zoo.registry import model_entrypoint

                model_entrypoint(item)  # raises the registry's "unknown model ..., did you mean" sentence
            add_arch(item)
    unique = list({c.spec: c for c in chosen}.values())
    if not unique:
        raise UserError(f"--models {models!r} selects no model; use best, all, family:NAME or names")
    return unique


def _published_cfg(name: str):
    from zoo.registry import pretrained_cfg

    return pretrained_cfg(name)  # an unknown name raises the registry's sentence


# ------------------------------------------------------------------------------------------------ runs
def _check_seeds(seeds: int | Sequence[int]) -> None:
    """Refuse seeds that are no count or repeat one another: a repeated seed repeats a run and fakes its spread."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise UserError(f"--seeds must be a count of at least 1, not {seeds}")
        return
    seen = [int(s) for s in seeds]
    dupes = sorted({s for s in seen if seen.count(s) > 1})
    if dupes:
        raise UserError(f"--seeds repeats a seed ({', '.join(map(str, dupes))}); a repeated seed runs the same "
                        "training again and fakes the spread over seeds, so give each seed once")


def min_train(labels: Sequence[int]) -> int:
    """The fewest training rows a stratified subsample (:func:`_subsample`) needs to keep every class: each class
    keeps about ``count * m / n`` rows, so ``m`` must reach ``n / count`` of the rarest class (and the number of
    classes)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    counts = counts[counts > 0]
    if not len(counts):
        return 0
    return int(max(len(counts), math.ceil(len(labels) / counts.min())))


def _subsample(ds, max_train: int | None, seed: int):
    from zoo.data import stratified_split

    n = len(ds["train"])
    if not max_train or n <= max_train:
        return ds
    labels = np.asarray(ds["train"]["label"])
    need = min_train(labels)
    if max_train < need:
        raise UserError(f"--max-train {max_train} is too few training sequences for a stratified subsample that keeps "
                        f"every class of the {n:,} training rows; give at least {need:,} (or 0 for all)")
    keep = stratified_split(labels, (max_train / n, 1 - max_train / n), seed=seed)[0]
    if len(np.unique(labels[keep])) < len(np.unique(labels)):  # rounding took the rarest class's last row
        raise UserError(f"--max-train {max_train} leaves a class without training sequences; give more (or 0 for "
                        "all)")
    ds = dict(ds)
    ds["train"] = ds["train"].select(keep)
    import datasets

    return datasets.DatasetDict(ds)


def bakeoff(data, *, validation=None, test=None, labels=None, label_names: Sequence[str] | None = None,
            label_map=None, format: str = "auto", label_column: str | None = None,
            sequence_column: str | None = None, models: str | Sequence[str] = "best", epochs: int = 3,
            seeds: int | Sequence[int] = 2, scratch: bool = False, max_train: int | None = 5000,
            lr: float = 1e-3, batch_size: int = 32, seq_len: int | None = None, metric: str = "accuracy",
            device: str = "auto", quiet: bool = True,
            progress: Callable[[str], None] | None = None) -> BakeoffResult:
    """Fine-tune each candidate of ``models`` (and with ``scratch`` also train it from scratch) once per seed on
    the same data and budget; see the module docstring. ``progress`` gets one line per finished run."""
    from zoo.data.user import label_names_of, load_data
    from zoo.engine import LearnedNothing
    from zoo.finetune import SmallSplit, finetune

    if metric not in METRICS:
        raise UserError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}")
    _check_seeds(seeds)
    if max_train is not None and max_train < 0:
        raise UserError(f"--max-train must be 0 (all) or a number of training sequences, not {max_train}")
    select_models(models)  # an unknown name is refused before minutes of data loading and training
    ds, data_name, split = load_data(data, validation=validation, test=test, labels=labels,
                                     label_names=label_names, format=format, label_column=label_column,
                                     sequence_column=sequence_column)
    if "test" not in ds:
        raise UserError(f"data {data_name!r} has no test split; give --test, or one file to split 70/15/15")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise UserError("--seeds must be at least 1")
    full = len(ds["train"])
    ds = _subsample(ds, max_train, seed=3264)
    if len(ds["train"]) < full:
        split += f"; training rows subsampled to {len(ds['train']):,} of {full:,} (stratified, seed 3264)"
    lengths = {len(s) for s in ds["train"]["sequence"][:2000]}
    candidates = select_models(models, seq_len or (max(lengths) if lengths else None))
    rows: list[dict[str, Any]] = []
    small = None  # finetune's sentence on a validation or test split too small to measure much
    for cand in candidates:
        modes = (["fine-tuned"] if cand.pretrained else []) + (["from scratch"] if scratch or not cand.pretrained
                                                                else [])
        for mode in modes:
            for seed in seed_list:
                try:
                    with warnings.catch_warnings():  # each run's warning is summed up once, after the last run
                        warnings.simplefilter("ignore", LearnedNothing)
                        warnings.simplefilter("ignore", SmallSplit)  # the same data in every run: said once below
                        r = finetune(cand.spec, ds, label_map=label_map, from_scratch=mode == "from scratch",
                                     seq_len=seq_len, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                                     device=device, quiet=quiet)
                except UserError as e:
                    raise UserError(f"{cand.name} ({mode}): {e}") from None
                row = {"model": cand.name, "arch": r.model.arch, "family": cand.family, "mode": mode, "seed": seed,
                       "seconds": round(r.seconds, 2), "cpu_seconds": round(r.cpu_seconds, 2),
                       "params": r.num_params,
                       **{f"test_{k}": v for k, v in r.metrics["test"].items()},
                       "learned_nothing": r.learned_nothing is not None}
                rows.append(row)
                small = r.small_splits
                if progress is not None:
                    progress(f"{cand.name} ({mode}) seed {seed}: test {metric} "
                             f"{row.get('test_' + metric, float('nan')):.4f} in {r.seconds:.1f} s"
                             f"{' (learned nothing)' if r.learned_nothing else ''}")
    settings = dict(models=models if isinstance(models, str) else ",".join(models), epochs=epochs, seeds=seed_list,
                    scratch=scratch, max_train=max_train, lr=lr, batch_size=batch_size,
                    labels=label_names_of(ds))
    result = BakeoffResult(rows, candidates, data_name, split, {s: len(ds[s]) for s in ds}, settings, metric)
    if (note := learned_nothing_note(result)) is not None:
        warnings.warn(note, LearnedNothing, stacklevel=2)
    if small:
        warnings.warn(small, SmallSplit, stacklevel=2)
    return result


def learned_nothing_note(result: BakeoffResult) -> str | None:
    """One sentence naming the runs whose model learned nothing (:func:`zoo.engine.learned_nothing`: on validation
    no better than always answering the most common class, nor than the class frequencies), with the remedy; ``None``
    when every run learned something."""
    from zoo.engine import DEFAULT_LR

    failed = [r for r in result.rows if r.get("learned_nothing") in (True, "True")]
    if not failed:
        return None
    runs: dict[tuple[str, str], list[str]] = {}
    for r in failed:
        runs.setdefault((r["model"], r["mode"]), []).append(str(r["seed"]))
    which = "; ".join(f"{model} ({mode}, seed{'s' if len(s) > 1 else ''} {', '.join(s)})"
                      for (model, mode), s in runs.items())
    lr = result.settings.get("lr")
    remedy = (f"the learning rate {lr:g} may be too high: run again with a lower one (--lr; the default is "
              f"{DEFAULT_LR:g})" if isinstance(lr, (int, float)) and lr > DEFAULT_LR else
              "their test scores are chance: run them longer (--epochs) or with another learning rate (--lr)")
    return (f"{len(failed)} of {len(result.rows)} runs learned nothing (on validation no better than always "
            f"answering the most common class, nor than the class frequencies): {which}; {remedy}")


# --------------------------------------------------------------------------------------------- summary
def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def leaderboard_rows(result: BakeoffResult) -> list[dict[str, Any]]:
    """One row per (model, mode): mean and sd over seeds of each metric, mean seconds, parameters; best first."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in result.rows:
        groups.setdefault((r["model"], r["mode"]), []).append(r)
    out = []
    for (model, mode), runs in groups.items():
        row = {"model": model, "mode": mode, "family": runs[0]["family"], "n": len(runs),
               "seconds": statistics.fmean(r["seconds"] for r in runs),
               "cpu_seconds": statistics.fmean(r.get("cpu_seconds", math.nan) for r in runs),
               "params": runs[0]["params"]}
        for m in METRICS:
            row[m] = _mean_sd([r.get(f"test_{m}") for r in runs])
        out.append(row)
    key = result.metric
    return sorted(out, key=lambda r: -r[key][0] if not math.isnan(r[key][0]) else math.inf)


def _tied(best: dict, other: dict, metric: str) -> bool:
    """Not told apart by these runs: within two standard errors of the difference (with one seed, or no spread,
    within 0.01, the run-to-run spread these baselines show on the study's tasks)."""
    (m1, s1), (m2, s2) = best[metric], other[metric]
    if s1 is None or s2 is None:
        return abs(m1 - m2) <= 0.01
    se = math.sqrt(s1 ** 2 / best["n"] + s2 ** 2 / other["n"])
    return abs(m1 - m2) <= max(2 * se, 1e-9)


def _margin(rows: list[dict], metric: str) -> str:
    """The margin :func:`_tied` used for these rows, in words (a single seed has no standard error)."""
    single = [r[metric][1] is None for r in rows]
    if not any(single):
        return "two standard errors over these seeds"
    if all(single):
        return "0.01 (one seed, so no standard error)"
    return "two standard errors over these seeds (0.01 where a model ran one seed)"


def _secs(x: float) -> str:
    return f"{x:.1f} s" if x < 10 else f"{x:.0f} s"


def recommend(result: BakeoffResult) -> str:
    """The pick and the reasoning, as Markdown paragraphs."""
    from zoo.summary import format_mean_sd

    board = leaderboard_rows(result)
    metric = result.metric
    best = board[0]

    def show(r: dict) -> str:
        m, s = r[metric]
        return (f"`{r['model']}` ({r['mode']}, test {metric} {format_mean_sd(m, s, r['n'])} over {r['n']} "
                f"seed{'s' if r['n'] > 1 else ''}, {_secs(r['seconds'])} per run, {r['params']:,} parameters)")

    lines = [f"**Recommendation: {show(best)}.**", ""]
    if (note := learned_nothing_note(result)) is not None:
        lines += [f"**Warning: {note}.**", ""]
    tied = [r for r in board[1:] if _tied(best, r, metric)]
    if tied:
        cheaper = min(tied, key=lambda r: (r["seconds"], r["params"]))
        lines.append(f"It is not clearly better than {', '.join(show(r) for r in tied)}: the differences are within "
                     f"{_margin([best, *tied], metric)}. " +
                     (f"If training time matters, `{cheaper['model']}` ({cheaper['mode']}) is "
                      f"{best['seconds'] / max(cheaper['seconds'], 1e-9):.1f}x faster per run. "
                      if cheaper["seconds"] < best["seconds"] else "") +
                     "More seeds (--seeds) or epochs (--epochs) would separate them.")
    else:
        lines.append(f"It leads every other candidate by more than {_margin(board, metric)} "
                     f"(next: {show(board[1])})." if len(board) > 1 else "It was the only candidate.")
    by_model = {(r["model"], r["mode"]): r for r in board}
    gains = []
    for (model, mode), r in by_model.items():
        other = by_model.get((model, "from scratch"))
        if mode == "fine-tuned" and other is not None:
            gains.append(f"`{model}` {r[metric][0] - other[metric][0]:+.3f}")
    if gains:
        lines += ["", f"Fine-tuned minus from scratch, same architecture and budget (test {metric}): "
                      f"{', '.join(gains)}. A positive number is what the pretrained weights bring to your data."]
    fams = sorted({r["family"] for r in board if r["family"]})
    lines += ["", f"Protocol: {result.settings['epochs']} epoch(s), lr {result.settings['lr']}, batch "
                  f"{result.settings['batch_size']}, seeds {', '.join(map(str, result.settings['seeds']))}, the same "
                  f"splits for every model ({result.split}); families compared: {', '.join(fams)}. As in the study "
                  "(Zhang et al. 2022), no baseline wins on every data set, which is why this is measured on yours; "
                  "a short budget favours models that learn fast, so re-run the leaders with more epochs before "
                  "deciding."]
    return "\n".join(lines) + "\n"


def leaderboard_markdown(result: BakeoffResult) -> str:
    from zoo.summary import format_mean_sd

    board = leaderboard_rows(result)
    head = (f"# Bake-off on {result.data_name}\n\n"
            f"{result.sizes.get('train', 0):,} training, {result.sizes.get('validation', 0):,} validation and "
            f"{result.sizes.get('test', 0):,} test sequences ({result.split}). Test metrics as mean ± sd over seeds; "
            "time is the mean training time of one run (wall clock, and CPU time over all threads, which a busy "
            "machine does not inflate).\n\n")
    lines = ["| rank | model | family | mode | n | test " + " | test ".join(METRICS) +
             " | time (s) | CPU time (s) | params |",
             "|---:|---|---|---|---:|" + "---|" * len(METRICS) + "---:|---:|---:|"]
    for i, r in enumerate(board, 1):
        cells = [format_mean_sd(*r[m], n=r["n"]) for m in METRICS]
        lines.append(f"| {i} | `{r['model']}` | {r['family']} | {r['mode']} | {r['n']} | " + " | ".join(cells) +
                     f" | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['params']:,} |")
    return head + "\n".join(lines) + "\n"


def results_csv(result: BakeoffResult) -> str:
    keys = list(dict.fromkeys(k for r in result.rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    return buf.getvalue()


#: The files of one bake-off, as :func:`write_report` writes them into its folder.
REPORT_FILES = ("results.csv", "leaderboard.md", "recommendation.md", "bakeoff.png")


def check_report_folder(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuse, before minutes of training, ``out_dir`` as the folder of a bake-off's report: something that is not
    a folder, a folder that cannot be written, and (unless ``overwrite``) a folder that already holds a bake-off's
    files, which the new report would replace."""
    from zoo.outputs import check_output_folder

    out = check_output_folder(out_dir)
    held = [n for n in REPORT_FILES if os.path.lexists(out / n)]
    if held and not overwrite:
        raise UserError(f"{str(out_dir)!r} already holds a bake-off ({', '.join(held)}); choose another --output "
                        f"(-o), or pass --overwrite (overwrite=True) to replace it")
    return out


def write_report(result: BakeoffResult, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """``results.csv``, ``leaderboard.md``, ``recommendation.md`` and ``bakeoff.png`` in ``out_dir`` (created when
    missing), all of them or none: a failure (a full disk) leaves no new file and an earlier report as it was. A
    folder that holds a bake-off already is refused unless ``overwrite``."""
    from zoo.outputs import all_or_nothing, atomic_write_text
    from zoo.plots import plot_bakeoff

    out = check_report_folder(out_dir, overwrite)
    files = [out / n for n in REPORT_FILES]
    texts = [results_csv(result), leaderboard_markdown(result),
             "# Which baseline for this data?\n\n" + recommend(result)]
    with all_or_nothing():  # each waits as a temporary file beside its target; renamed together at the end
        for path, text in zip(files, texts):
            atomic_write_text(path, text)
        plot_bakeoff(leaderboard_rows(result), result.metric, files[3])
    result.files = files
    return files
