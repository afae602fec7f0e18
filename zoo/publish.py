"""Publishing: finished training runs -> the bundled hub (``hub/<org>/<arch>.<tag>/``) and ``zoo/pretrained.json``.

For every (architecture, tag) chosen, the seed with the best validation accuracy is published (a record whose best
seed ran on another machine keeps its published seed, its metrics refreshed over all seeds): its folder holds
``model.safetensors``, ``config.json``, the generated card ``README.md`` and ``reference.json`` — the expected
probabilities for a fixed set of generated input sequences (as Kipoi does), which :func:`verify` recomputes.
The record of each weight (:class:`~zoo.registry.PretrainedCfg`: metrics as mean and sd over seeds plus the
published seed's own values, the study's figure, data, split, recipe, sha256) is written to ``zoo/pretrained.json``,
the single source that the registry, the cards, ``genozoo list`` and the space read.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import warnings
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from zoo.data.splits import RESPLIT_MARK, RESPLIT_NOTE, is_test_resplit
from zoo.errors import UserError
from zoo.outputs import atomic_write_json
from zoo.registry import PRETRAINED_JSON, PretrainedCfg
from zoo.summary import format_mean_sd

__all__ = ["REFERENCE_NAME", "TEST_METRICS", "VALIDATION_METRICS", "GUARD_METRIC", "Kept", "PublishResult",
           "best_runs", "select_top", "publish", "records_path", "refresh_record", "reference_inputs", "verify",
           "VerifyResult", "hub_size_mb", "leaderboard_markdown", "update_readme"]

REFERENCE_NAME = "reference.json"
TEST_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc", "auprc")
VALIDATION_METRICS = ("accuracy", "loss")
#: The metric a new run must not lose on (its mean over seeds) to replace a published weight without --force.
GUARD_METRIC = "accuracy"
#: Absolute tolerance on reference probabilities (float32 CPU kernels differ by ~1e-7 between machines).
DEFAULT_ATOL = 1e-5


def _finite(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def best_runs(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Group grid rows (:func:`zoo.grid.collect`) by ``arch.tag`` and pick the best seed by validation accuracy
    (ties: lower validation loss). Returns ``{name: {"best": row, "seeds": [rows]}}``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(f"{r['arch']}.{r['tag']}", []).append(r)
    return {name: {"best": max(rs, key=lambda r: (r["validation_accuracy"], -r["validation_loss"])),
                   "seeds": sorted(rs, key=lambda r: r["seed"])}
            for name, rs in groups.items()}


def select_top(groups: dict[str, dict[str, Any]], k: int) -> list[str]:
    """The zoo's publishing policy for a task: per tag, the ``k`` models other than transformers with the best mean
    validation accuracy over their seeds, plus every transformer baseline trained on it (the zoo publishes one on
    every task)."""
    from zoo.registry import model_family

    by_tag: dict[str, list[str]] = {}
    for name, g in groups.items():
        by_tag.setdefault(g["best"]["tag"], []).append(name)
    chosen = []
    for tag in sorted(by_tag):
        ranked = sorted(by_tag[tag], key=lambda n: -statistics.fmean(
            _finite(r["validation_accuracy"] for r in groups[n]["seeds"]) or [float("-inf")]))
        transformers = [n for n in ranked if model_family(groups[n]["best"]["arch"]) == "transformer"]
        chosen += [n for n in ranked if n not in transformers][:k] + transformers
    return chosen


def _metrics(best: dict[str, Any], seeds: Sequence[dict[str, Any]], split: str = "test",
             names: Sequence[str] = TEST_METRICS) -> dict[str, dict[str, float]]:
    out = {}
    for m in names:
        vals = _finite(r.get(f"{split}_{m}") for r in seeds)
        if not vals:
            continue
        out[m] = {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                  "seed_value": best.get(f"{split}_{m}")}
    return out


def _validation(best: dict[str, Any], seeds: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return _metrics(best, seeds, "validation", VALIDATION_METRICS)


class Kept(NamedTuple):
    """A published weight that ``publish`` did not replace: the new runs score a lower mean validation metric."""

    name: str
    metric: str
    published: float
    published_seeds: int
    new: float
    new_seeds: int


class PublishResult(NamedTuple):
    published: list[PretrainedCfg]
    refreshed: list[PretrainedCfg]
    kept: list[Kept]


def _worse(name: str, record: dict[str, Any] | None, seeds: Sequence[dict[str, Any]]) -> Kept | None:
    """A :class:`Kept` when ``seeds`` (the rows that would be published) have a lower mean validation accuracy
    than the published ``record``; None when they are at least as good or nothing is published yet."""
    if record is None:
        return None
    new = _finite(r.get(f"validation_{GUARD_METRIC}") for r in seeds)
    old = (record.get("validation") or {}).get(GUARD_METRIC) or {}
    if old.get("mean") is None:
        raise UserError(f"the published record of {name} has no validation {GUARD_METRIC} to compare the new runs "
                        f"with; pass --force to replace it anyway")
    if not new:
        raise UserError(f"the runs of {name} have no validation {GUARD_METRIC}; they cannot replace its published "
                        f"weight (pass --force to replace it anyway)")
    mean = statistics.fmean(new)
    if mean >= float(old["mean"]):
        return None
    return Kept(name, GUARD_METRIC, float(old["mean"]), len(record.get("seeds") or ()) or 1, mean, len(new))


def reference_inputs(seq_len: int, n: int = 8, seed: int = 0) -> list[dict[str, str]]:
    """Generated inputs for reference predictions: planted-motif and random sequences of the model's length,
    plus one shorter (padded), one longer (cropped) and one with N, so the length policy is exercised too."""
    from zoo.data.synthetic import planted_motif_benchmark

    length = max(seq_len, 24)
    dd = planted_motif_benchmark(n=max(4 * n, 40), length=length, seed=seed)
    rows = list(dd["train"].select(range(n - 3)))
    seqs = [r["sequence"][:seq_len] for r in rows]
    rng = np.random.default_rng(seed)
    seqs.append("".join(rng.choice(list("ACGT"), max(seq_len - 7, 3))))
    seqs.append("".join(rng.choice(list("ACGT"), seq_len + 9)))
    with_n = list(seqs[0])
    with_n[len(with_n) // 2] = "N"
    seqs.append("".join(with_n))
    return [{"id": f"ref{i}", "sequence": s} for i, s in enumerate(seqs)]


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, sort_keys=True)  # strict JSON: a record's undefined score is null, not NaN


def _data_revision(dataset: str) -> str | None:
    """The pinned sha256 of the benchmark's source files (short form), as the revision of the training data."""
    from zoo.data import benchmark_info

    try:
        sources = benchmark_info(dataset).sources
    except Exception:  # a benchmark not in the catalogue: no pinned revision to record
        return None
    pins = [s.sha256[:16] for s in sources if getattr(s, "sha256", None)]
    return "sha256:" + ",".join(pins) if pins else None


def _notes(recipe: Any, recipes_dir: str | Path | None = None) -> str:
    """The card's notes for a run made with ``recipe``: those of the committed recipe the card names
    (``train/recipes/<arch>.<tag>.yaml``, whose notes may have been reworded since the run) when it trains exactly
    as the run did, else the run's own."""
    from zoo.engine import RUNTIME_KEYS
    from zoo.grid import RECIPES_DIR
    from zoo.recipes import Recipe, load_recipe

    path = Path(recipes_dir or RECIPES_DIR) / f"{recipe.name}.yaml"
    if not path.is_file():
        return recipe.notes
    committed = load_recipe(path)
    ignore = {"notes", "seeds", "seed", *RUNTIME_KEYS}
    same = all(getattr(committed, f.name) == getattr(recipe, f.name) for f in fields(Recipe) if f.name not in ignore)
    return committed.notes if same else recipe.notes


def _publish_one(name: str, best: dict[str, Any], seeds: Sequence[dict[str, Any]], folder: Path,
                 org: str) -> PretrainedCfg:
    from zoo import study
    from zoo.hub import save_model, sha256_file
    from zoo.predict import predict
    from zoo.recipes import load_run_model

    model, recipe = load_run_model(best["run_dir"])
    model.eval()
    ctor = dict(getattr(model, "_hub_mixin_config", None) or {})
    model_args = {k: v for k, v in ctor.items() if k not in ("num_classes", "seq_len", "label_names")}
    seed = int(best["seed"])
    cfg = PretrainedCfg(
        arch=recipe.arch, tag=recipe.tag, num_classes=model.num_classes, seq_len=model.seq_len,
        label_names=tuple(model.label_names), encoding=model.encoding.to_dict(), model_args=model_args,
        classifier=model.classifier, hub_id=f"{org}/{name}", num_params=model.num_parameters(),
        dataset=recipe.dataset, split=recipe.split, data_revision=_data_revision(recipe.dataset),
        metrics=_metrics(best, seeds), validation=_validation(best, seeds),
        paper_metrics=study.study_figures(recipe.arch, recipe.tag),
        seeds=tuple(int(r["seed"]) for r in seeds), seed=seed, license="MIT",
        recipe=f"genozoo train train/recipes/{name}.yaml --seed {seed}", notes=_notes(recipe))
    save_model(model, folder, cfg)
    cfg = replace(cfg, sha256=sha256_file(folder / "model.safetensors"))
    save_model(model, folder, cfg)  # the card shows the final record
    inputs = reference_inputs(model.seq_len)
    with warnings.catch_warnings():  # the inputs include a padded and a cropped sequence on purpose
        warnings.simplefilter("ignore", UserWarning)
        probs = predict(model, [r["sequence"] for r in inputs], batch_size=len(inputs), device="cpu").probabilities
    _write_json(folder / REFERENCE_NAME, {
        "model": name, "atol": DEFAULT_ATOL, "label_names": list(model.label_names),
        "inputs": inputs, "probabilities": np.asarray(probs, dtype=np.float64).round(8).tolist(),
        "note": "generated inputs (planted-motif and random sequences, one padded, one cropped, one with N); "
                "probabilities computed on CPU in float32 by zoo.predict"})
    return cfg


def records_path(hub_root: str | Path | None = None) -> Path:
    """Where :func:`publish` writes the records of weights published into ``hub_root``: ``zoo/pretrained.json``
    (or ``$GENOZOO_PRETRAINED``) for the bundled hub, which the registry reads; for another hub, its own
    ``pretrained.json``, so publishing elsewhere never changes the installed package's records (use that hub with
    ``GENOZOO_HUB_DIR=HUB GENOZOO_PRETRAINED=HUB/pretrained.json``). ``$GENOZOO_PRETRAINED``, when set, always
    wins: the user named the records file."""
    import os

    from zoo.hub import hub_dir

    if os.environ.get("GENOZOO_PRETRAINED") or hub_root is None:
        return Path(PRETRAINED_JSON)
    if os.path.realpath(hub_root) == os.path.realpath(hub_dir()):
        return Path(PRETRAINED_JSON)
    return Path(hub_root) / "pretrained.json"


def publish(runs_dir: str | Path, names: Sequence[str] | None = None, *, hub_root: str | Path | None = None,
            org: str | None = None, registry_path: str | Path | None = None, top: int | None = None,
            tags: Sequence[str] | None = None, progress: bool = True, merge: str | Path | None = None,
            force: bool = False) -> PublishResult:
    """Publish the best seed of each ``arch.tag`` found under ``runs_dir`` (all, or ``names``) into the bundled
    hub and merge their records into ``registry_path`` (records of other names are kept; default:
    :func:`records_path` of the hub, so a hub other than the bundled one gets its own records file).

    ``tags`` keeps only runs of those recipe tags; ``top=k`` keeps, per tag, the ``k`` best by mean validation
    accuracy plus the transformer baselines (:func:`select_top`). ``merge``: an earlier ``results.csv`` whose rows
    stand in for runs with no folder here (:func:`zoo.grid.merged_rows`), so the choice of the ``k`` best sees
    the whole grid. A chosen name whose best seed has no folder here keeps its published weights (an error if it
    has none); its record's metrics are refreshed from the rows of all its seeds (:func:`refresh_record`).
    A published weight is never replaced by runs with a lower mean validation accuracy over their seeds unless
    ``force``: it is kept, folder and record untouched, and listed in ``kept``.
    Returns ``(published, refreshed, kept)``."""
    from tqdm.auto import tqdm

    from zoo.grid import merged_rows
    from zoo.hub import hub_dir, hub_org

    if not Path(runs_dir).is_dir():
        raise UserError(f"run folder {str(runs_dir)!r} " + ("is not a folder" if Path(runs_dir).exists() else
                        "does not exist") + "; give the --out folder of `genozoo train` or `genozoo benchmark`")
    if org is not None and not str(org).strip():
        raise UserError("--org is empty; give a Hub organization (or leave it out for $GENOZOO_HUB_ORG or genozoo)")
    org = org or hub_org()
    root = Path(hub_root) if hub_root else hub_dir()
    if root.exists() and not root.is_dir():
        raise UserError(f"--hub {str(root)!r} is not a folder; give the folder to publish the models into")
    groups = best_runs(merged_rows(runs_dir, merge)[0])
    if not groups:
        raise UserError(f"no finished runs under {str(runs_dir)!r} (a finished run folder holds metrics.json); "
                        "train them first, or give the --out folder of `genozoo train` or `genozoo benchmark`")
    if tags:
        unknown = sorted(set(tags) - {g["best"]["tag"] for g in groups.values()})
        if unknown:
            raise UserError(f"no finished runs for tag(s) {', '.join(unknown)} under {runs_dir}")
        groups = {n: g for n, g in groups.items() if g["best"]["tag"] in tags}
    wanted = list(names) if names else sorted(select_top(groups, top) if top else groups)
    missing = [n for n in wanted if n not in groups]
    if missing:
        raise UserError(f"no finished runs for {', '.join(missing)} under {runs_dir}; train them first")
    registry_path = Path(registry_path) if registry_path is not None else records_path(hub_root)
    records = {r["arch"] + "." + r["tag"]: r for r in
               (json.loads(registry_path.read_text())["models"] if registry_path.exists() else [])}
    elsewhere = [n for n in wanted if not Path(groups[n]["best"]["run_dir"]).is_dir()]
    unpublished = [n for n in elsewhere if n not in records]
    if unpublished:
        raise UserError(f"the best seed of {', '.join(unpublished)} has no run folder under {runs_dir} (its row "
                        "comes from the merged table) and it was never published; train it here first")
    published, kept = [], []
    if not force:
        kept = [k for n in wanted if n not in elsewhere and (k := _worse(n, records.get(n), groups[n]["seeds"]))]
    held = {k.name for k in kept}
    for name in tqdm([n for n in wanted if n not in elsewhere and n not in held], desc="publish",
                     disable=not progress):
        g = groups[name]
        cfg = _publish_one(name, g["best"], g["seeds"], root / org / name, org)
        records[name] = cfg.to_dict()
        published.append(cfg)
    refreshed = [refresh_record(PretrainedCfg.from_dict(records[n]), groups[n]["seeds"], root / org / n)
                 for n in elsewhere]
    records.update({cfg.name: cfg.to_dict() for cfg in refreshed})
    _write_json(registry_path, {"note": "generated by zoo.publish from training runs; do not edit by hand",
                                "models": [records[k] for k in sorted(records)]})
    return PublishResult(published, refreshed, kept)


def refresh_record(cfg: PretrainedCfg, seeds: Sequence[dict[str, Any]], folder: Path) -> PretrainedCfg:
    """``cfg`` with its test metrics and seed list recomputed from grid rows of all its seeds (more seeds
    finished after it was published), the published weight and its own values unchanged; re-renders the card
    in ``folder``. A record whose own seed is not among ``seeds`` is returned as it is."""
    from zoo.cards import render_model_card
    from zoo.checkpoint import atomic_write_text
    from zoo.hub import CARD_NAME, CONFIG_NAME, load_model, model_config

    own = next((r for r in seeds if int(r["seed"]) == cfg.seed), None)
    if own is None:
        return cfg
    cfg = replace(cfg, metrics=_metrics(own, seeds), validation=_validation(own, seeds),
                  seeds=tuple(int(r["seed"]) for r in seeds))
    if (folder / CONFIG_NAME).is_file():  # the card describes the model as save_model does (a transformers
        model = load_model(folder)         # folder's config.json is not genozoo's)
        atomic_write_text(folder / CARD_NAME, render_model_card(model_config(model, cfg), cfg))
    return cfg


def hub_size_mb(root: str | Path | None = None) -> float:
    from zoo.hub import hub_dir

    root = Path(root) if root else hub_dir()
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20


class VerifyResult(dict):
    """``name``, ``ok``, ``max_abs_diff``, ``atol``, ``n`` and a ``message``."""


def verify(name: str, *, atol: float | None = None, device: str = "cpu") -> VerifyResult:
    """Recompute a published model's reference predictions from its folder (the bundled one, or the Hub repo's
    files in the cache, fetched if needed) and compare them."""
    from zoo.hub import download_model, repo_id_for, resolve_pretrained
    from zoo.predict import predict
    from zoo.registry import create_model, pretrained_cfg

    cfg = pretrained_cfg(name)
    weights, source = resolve_pretrained(cfg)
    folder = Path(weights).parent
    ref_path = folder / REFERENCE_NAME
    if source == "hub" and not ref_path.is_file():
        ref_path = download_model(repo_id_for(cfg), cfg.revision, filenames=(REFERENCE_NAME,)) / REFERENCE_NAME
    if not ref_path.is_file():
        raise UserError(f"{name} has no {REFERENCE_NAME} in {folder}; re-publish it (repo {repo_id_for(cfg)})")
    ref = json.loads(ref_path.read_text())
    model = create_model(name, pretrained=True)
    seqs = [r["sequence"] for r in ref["inputs"]]
    with warnings.catch_warnings():  # the inputs include a padded and a cropped sequence on purpose
        warnings.simplefilter("ignore", UserWarning)
        got = np.asarray(predict(model, seqs, batch_size=len(seqs), device=device).probabilities, np.float64)
    want = np.asarray(ref["probabilities"], dtype=np.float64)
    tol = float(atol if atol is not None else ref.get("atol", DEFAULT_ATOL))
    diff = float(np.abs(got - want).max()) if got.shape == want.shape else math.inf
    ok = diff <= tol
    msg = (f"{name}: {len(seqs)} reference predictions match (max |diff| {diff:.2e} <= {tol:.0e})" if ok else
           f"{name}: reference predictions differ (max |diff| {diff:.2e} > {tol:.0e})")
    return VerifyResult(name=name, ok=ok, max_abs_diff=diff, atol=tol, n=len(seqs), message=msg)


README_START, README_END = "<!-- zoo:leaderboard -->", "<!-- /zoo:leaderboard -->"


def leaderboard_markdown(names: Sequence[str] | None = None) -> str:
    """One Markdown table per task of the published models (from their records), best test accuracy first."""
    from zoo.registry import list_models, model_family, pretrained_cfg

    names = list_models(pretrained=True) if names is None else names
    by_tag: dict[str, list[PretrainedCfg]] = {}
    for n in names:
        cfg = pretrained_cfg(n)
        by_tag.setdefault(cfg.tag, []).append(cfg)
    if not by_tag:
        return "_No published models yet._"

    def ms(cfg: PretrainedCfg, m: str) -> str:
        v = cfg.metrics.get(m)
        mark = f" {RESPLIT_MARK}" if is_test_resplit(cfg.split) else ""  # said beside the number, not only in prose
        return format_mean_sd(v["mean"], v.get("sd"), len(cfg.seeds) or None) + mark if v else "–"

    out = []
    for tag in sorted(by_tag):
        cfgs = sorted(by_tag[tag], key=lambda c: -c.metrics.get("accuracy", {}).get("mean", 0.0))
        first = cfgs[0]
        single = "; one seed: its value" if any(len(c.seeds) < 2 for c in cfgs) else ""
        out += [f"**{tag}** ({first.dataset}; {len(first.label_names)} classes, {first.seq_len} bp; "
                f"test metrics as mean ± sd over seeds{single})", "",
                "| model | family | params | test accuracy | test AUROC | test MCC | study accuracy |",
                "|---|---|---:|---|---|---|---|"]
        for c in cfgs:
            study_acc = c.paper_metrics.get("accuracy")
            out.append(f"| `{c.name}` | {model_family(c.arch)} | {c.num_params:,} | {ms(c, 'accuracy')} | "
                       f"{ms(c, 'auroc')} | {ms(c, 'mcc')} | {f'{study_acc:.3f}' if study_acc else '–'} |")
        if any(is_test_resplit(c.split) for c in cfgs):
            out += ["", RESPLIT_NOTE + "."]
        out.append("")
    return "\n".join(out).rstrip()


def update_readme(path: str | Path) -> bool:
    """Replace the block between the leaderboard markers of a README with :func:`leaderboard_markdown`;
    returns whether the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise UserError(f"{path} has no {README_START} ... {README_END} block to fill")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{leaderboard_markdown()}\n{README_END}{tail}"
    if new != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
    return new != text
