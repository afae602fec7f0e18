"""Training recipes and run folders: how one published weight is made, and what a run leaves behind.

A :class:`Recipe` is a flat dataclass (the :class:`~zoo.engine.TrainConfig` fields plus the model and the data),
read from YAML (``train/recipes/<arch>.<tag>.yaml``) and overridden with ``--key=value`` arguments; an unknown key
or a value of the wrong type fails with a :class:`~zoo.errors.UserError`. :func:`run` trains one seed of a recipe
and writes its run folder ``<out>/<arch>.<tag>/seed<S>/``:

==============================  ==========================================================================
``recipe.yaml``                 the resolved recipe (every key, this seed, the model's encoding)
``run.json``                    seed, git commit, package versions, device, processes, command, timings
``epochs.csv`` / ``epochs.json``  the per-epoch log (train/validation loss and metrics, learning rate)
``metrics.json``                loss and metrics on train/validation/test with the best epoch (written last:
                                its presence marks a finished run)
``model.safetensors``           the best epoch's weights, with ``config.json`` (the model's arguments)
``predictions_test.safetensors``  test-set probabilities and labels (for ROC/PR curves)
``checkpoints/``                the last epoch's training state (:mod:`zoo.checkpoint`), until the run ends
==============================  ==========================================================================
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import platform
import shutil
import subprocess
import sys
import time
import types
import typing
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml

from zoo import checkpoint as ckpt
from zoo.engine import (TrainConfig, TrainingDiverged, distributed_context, evaluate, fit, resolve_device,
                        seed_everything)
from zoo.errors import UserError
from zoo.hub.validate import WEIGHTS_SHA_KEY, sha256_file
from zoo.outputs import atomic_write_json

__all__ = ["Recipe", "load_recipe", "parse_overrides", "run_dir_for", "load_data", "build_model", "run",
           "load_run_model", "evaluate_model", "Evaluation", "PACKAGES"]

PACKAGES = ("genozoo", "torch", "numpy", "scikit-learn", "datasets", "safetensors", "huggingface_hub", "pyyaml")
SPLITS = ("train", "validation", "test")
_REPO = Path(__file__).resolve().parents[1]


@dataclass
class Recipe(TrainConfig):
    """One published weight's recipe: model, data, and training settings (the :class:`TrainConfig` fields)."""

    arch: str = ""
    tag: str = ""                      # names the training data in the published name arch.tag
    task: str | None = None            # study geometry (splice | histone | motif) -> study_kwargs(arch, task)
    model_args: dict = field(default_factory=dict)
    dataset: str = ""                  # a benchmark name, a folder (saved DatasetDict or split CSVs), or a data file
    source: str | None = None          # where zoo.data reads it from (a local folder or URL); None = default
    data_args: dict = field(default_factory=dict)  # load_benchmark options, or from_files' (with a "train" key)
    split: str = ""                    # how train/validation/test were made, for cards and the README
    encoding: dict | None = None       # implied by the arch; recorded here and checked when given
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    notes: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.arch or not self.dataset:
            raise UserError("a recipe needs at least 'arch' and 'dataset'")
        if not self.tag:
            self.tag = Path(self.dataset).name if Path(self.dataset).exists() else self.dataset.replace("/", "_")
        if self.task is None and not Path(self.dataset).exists() and "train" not in self.data_args:
            # The study's own benchmarks get the study's input geometry unless the recipe says otherwise.
            self.task = next((t for t in ("splice", "histone", "motif") if self.dataset.startswith(t)), None)
        if not self.seeds:
            raise UserError("a recipe needs at least one seed in 'seeds'")

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.tag}"

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)} | {"seed": seed})

    def to_dict(self) -> dict:
        """Model and data first, then training settings, as the YAML files are laid out."""
        d = dataclasses.asdict(self)
        first = [f.name for f in fields(Recipe) if f.name not in {g.name for g in fields(TrainConfig)}]
        return {k: d[k] for k in first} | {k: v for k, v in d.items() if k not in first and k != "seed"}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=110)


# ---------------------------------------------------------------------------------------- loading
_HINTS = typing.get_type_hints(Recipe)


def _coerce(key: str, value: Any, hint: Any = None) -> Any:
    """Convert a YAML/command-line value to the field's declared type, or raise a UserError naming the key."""
    hint = _HINTS[key] if hint is None else hint
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, option)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{key} cannot be {value!r}")
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "false", "no", "0"):
                return str(value).lower() in ("true", "yes", "1")
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        origin = typing.get_origin(hint) or hint
        if origin is list:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise ValueError
            inner = (typing.get_args(hint) or (str,))[0]
            return [_coerce(key, v, inner) for v in items]
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    name = getattr(hint, "__name__", str(hint))
    raise UserError(f"recipe key {key!r} must be {name}, not {value!r}")


def _check_keys(keys: Sequence[str], where: str) -> None:
    known = sorted(k for k in _HINTS if k != "seed")  # a recipe lists its seeds; --seed picks one on the CLI
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise UserError(f"unknown recipe key {key!r} in {where}{hint}")


def is_recipe_key(name: str) -> bool:
    """Whether ``name`` (``epochs``, ``batch-size``, ``model_args.dropout``) names a recipe key."""
    return name.replace("-", "_").partition(".")[0] in _HINTS


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["--lr=3e-4", "--model_args.dropout=0.2"]`` -> ``{"lr": "3e-4", "model_args": {"dropout": 0.2}}``."""
    out: dict[str, Any] = {}
    for item in overrides:
        if not item.startswith("--") or "=" not in item:
            raise UserError(f"override {item!r} must look like --key=value (e.g. --epochs=5)")
        key, raw = item[2:].split("=", 1)
        key = key.replace("-", "_")
        top, _, sub = key.partition(".")
        _check_keys([top], "the command line")
        value = yaml.safe_load(raw) if raw.strip() else ""
        if sub:
            if _HINTS[top] is not dict:
                raise UserError(f"recipe key {top!r} has no sub-keys; write --{top}=VALUE")
            out.setdefault(top, {})[sub] = value
        else:
            # Keep the raw text for strings: YAML would turn "1e-3" into a string but "1.0" into a float.
            out[top] = raw if _HINTS[top] is str else value
    return out


def load_recipe(path: str | Path | None = None, overrides: Sequence[str] | dict = (), **base: Any) -> Recipe:
    """Read a recipe YAML (or start from ``base`` keys), apply overrides, check every key and type."""
    data: dict[str, Any] = dict(base)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"recipe file {path} does not exist; see train/recipes/ for the published recipes")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise UserError(f"recipe file {path} is not valid YAML ({e.__class__.__name__})") from e
        except UnicodeDecodeError:
            raise UserError(f"recipe file {path} is not UTF-8 text; it is damaged or not a recipe") from None
        if not isinstance(loaded, dict):
            raise UserError(f"recipe file {path} must hold a mapping of keys to values")
        _check_keys(list(loaded), str(path))
        data.update(loaded)
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    _check_keys(list(data), "the recipe")
    return Recipe(**{k: _coerce(k, v) for k, v in data.items()})


def run_dir_for(recipe: Recipe, seed: int, out_dir: str | Path = "runs") -> Path:
    return Path(out_dir) / recipe.name / f"seed{seed}"


# ------------------------------------------------------------------------------------- data and model
def load_data(recipe: Recipe, need: Sequence[str] = ("train", "validation")):
    """The recipe's data as a ``DatasetDict`` (train/validation/test); the splits in ``need`` must exist."""
    import datasets

    path = Path(recipe.dataset)
    if "train" in recipe.data_args or path.is_file():
        from zoo.data.user import training_files  # the user's own files (any layout from_files reads)

        # Training needs two classes (refused as the files are read); scoring alone takes any test data.
        ds = training_files(**({"train": recipe.dataset} | recipe.data_args), single_class="train" not in need)
    elif path.is_dir() and (path / "dataset_dict.json").exists():
        ds = datasets.load_from_disk(str(path))
    elif path.is_dir():
        files = {s: str(f) for s in SPLITS for f in sorted(path.glob(f"{s}.*"))[:1]
                 if f.suffix in (".csv", ".tsv")}
        if not files:
            raise UserError(f"dataset folder {path} holds neither a saved DatasetDict nor train/validation/test "
                            f"CSV files")
        ds = datasets.load_dataset("csv", data_files=files,
                                   delimiter="\t" if next(iter(files.values())).endswith(".tsv") else ",")
    else:
        from zoo.data import load_benchmark

        ds = load_benchmark(recipe.dataset, source=_source(recipe.source), progress=not recipe.quiet,
                            **recipe.data_args)
    missing = [s for s in need if s not in ds]
    if missing:
        what = "training needs train and validation" if len(need) > 1 else "choose another split"
        raise UserError(f"dataset {recipe.dataset!r} has no {' or '.join(missing)} split (it has "
                        f"{', '.join(ds) or 'none'}); {what}")
    return ds


def _source(source: str | None) -> str | None:
    """A local copy named by the recipe: as given, or relative to the repository (recipes name ../shared/data)."""
    if source is not None and source.strip().lower() in ("", "null", "none"):
        return None  # --source=null (as a recipe override reads it): download from the original URLs
    if source is None or "://" in source or Path(source).exists():
        return source
    if not Path(source).is_absolute() and (_REPO / source).exists():
        return str(_REPO / source)
    raise UserError(f"data source {source!r} does not exist; pass --source=PATH to a local copy of the files, or "
                    f"--source=null to download them from their original URLs")


def _source_here(source: str | None) -> str | None:
    """:func:`_source` when it names something on this machine, else None (the benchmark's default source)."""
    try:
        return _source(source)
    except UserError:
        return None


def _label_names(ds) -> list[str]:
    feature = ds["train"].features.get("label")
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    labels = set().union(*(set(ds[s]["label"]) for s in ds))
    return [str(i) for i in range(max(labels) + 1)]


def build_model(recipe: Recipe, ds=None, label_names: Sequence[str] | None = None):
    """Create the recipe's architecture (study geometry when ``task`` is set, sizes from the data otherwise)."""
    from zoo.data.user import require_classes
    from zoo.registry import create_model_from_args, is_classifier, study_kwargs

    if not is_classifier(recipe.arch):
        raise UserError(f"{recipe.arch} is not a classifier (a part other models build on), so it cannot be trained "
                        f"on labels; choose a classifier (genozoo list)")
    names = list(label_names) if label_names is not None else _label_names(ds)
    require_classes(names, len(ds["train"]) if ds is not None else None)
    args: dict[str, Any] = study_kwargs(recipe.arch, recipe.task) if recipe.task else {}
    if recipe.task and args.get("num_classes", len(names)) != len(names):
        raise UserError(f"task {recipe.task!r} has {args['num_classes']} classes but dataset {recipe.dataset!r} "
                        f"has {len(names)}; fix 'task' or 'dataset'")
    args.update(num_classes=len(names), label_names=names)
    if "seq_len" not in args and "seq_len" not in recipe.model_args:
        args["seq_len"] = max(len(s) for s in ds["train"]["sequence"])
    args.update(recipe.model_args)
    model = create_model_from_args(recipe.arch, "the recipe's model_args (--model_args.KEY=VALUE)", **args)
    if recipe.encoding is not None and recipe.encoding != model.encoding.to_dict():
        raise UserError(f"recipe encoding {recipe.encoding} differs from what {recipe.arch} takes "
                        f"({model.encoding.to_dict()}); remove 'encoding' from the recipe or fix it")
    return model


# ----------------------------------------------------------------------------------------- run folder
def _git_commit() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, default=float)  # strict JSON: an undefined score is null, not NaN


def run(recipe: Recipe, seed: int, out_dir: str | Path = "runs", *, resume: bool = False,
        keep_checkpoint: bool = False, data=None) -> dict[str, Any]:
    """Train one seed of ``recipe`` into its run folder and return ``metrics.json``'s content.

    A finished run (``metrics.json`` present) is returned as is when ``resume`` is set; an unfinished one is
    continued from its checkpoint. Without ``resume`` an existing run folder is an error, never overwritten.
    The training checkpoint (weights, best weights, optimizer state) is removed once the run has finished,
    unless ``keep_checkpoint``.
    """
    rank, world, _ = distributed_context()
    folder = run_dir_for(recipe, seed, out_dir)
    done = folder / "metrics.json"
    if folder.exists() and any(folder.iterdir()) and not resume:
        raise UserError(f"run folder {folder} already exists; pass --resume to continue or reuse it, "
                        f"or choose another --out")
    ckpt.barrier()  # every rank has looked before rank 0 creates the folder
    if resume and done.exists():
        return json.loads(done.read_text())
    ds = load_data(recipe) if data is None else data
    cfg = recipe.train_config(seed)
    seed_everything(seed)  # before the model is built: its initial weights depend on the seed
    model = build_model(recipe, ds)
    resolved = dataclasses.replace(recipe, encoding=model.encoding.to_dict(), seeds=[seed])
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    new_folder = not folder.exists()
    made = [f for f in (folder, *folder.parents) if not f.exists()]  # the folders this run creates, innermost first
    if rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write_text(folder / "recipe.yaml", resolved.to_yaml())
    try:
        result = fit(model, ds["train"], ds["validation"], cfg, run_dir=folder, resume=resume)
    except BaseException as exc:
        # A run that failed before its first checkpoint leaves nothing to resume: its folder would only block the
        # corrected command ("already exists"). A diverged run cannot be resumed either (its settings diverge
        # again, and other settings are refused on resume): nothing of it is kept.
        diverged = isinstance(exc, TrainingDiverged)
        if rank == 0 and new_folder and (diverged or ckpt.latest_checkpoint(folder) is None):
            shutil.rmtree(folder, ignore_errors=True)
            for parent in made[1:]:  # the arch.tag folder and --out, when this run created them and they are empty
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise
    device = resolve_device(cfg.device)
    evals = {s: evaluate(model, ds[s], batch_size=cfg.eval_batch_size, device=device) for s in SPLITS if s in ds}
    metrics = {
        "name": recipe.name, "seed": seed, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "train_seconds": result.train_seconds,
        "pretrain_seconds": result.pretrain_seconds, "num_params": model.num_parameters(),
        **{s: e.as_dict() for s, e in evals.items()},
    }
    if result.learned_nothing:  # the warning fit gave, kept with the run (zoo.engine.learned_nothing)
        metrics["learned_nothing"] = result.learned_nothing
    if rank == 0:
        state = ckpt.state_to_cpu(model)
        ckpt.save_weights(state, folder / "model.safetensors", metadata={"format": "pt", "arch": recipe.arch})
        config = dict(getattr(model, "_hub_mixin_config", None) or {})
        config[WEIGHTS_SHA_KEY] = sha256_file(folder / "model.safetensors")  # checked whenever the run is loaded
        _write_json(folder / "config.json", config)
        if "test" in evals:
            ckpt.save_weights({"probs": evals["test"].probs.float(), "labels": evals["test"].labels},
                              folder / "predictions_test.safetensors")
        _write_json(folder / "run.json", {
            "name": recipe.name, "seed": seed, "git": _git_commit(), "versions": _versions(),
            "device": str(device), "world_size": world, "argv": sys.argv, "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed_from_epoch": result.resumed_from,
            "torch_threads": torch.get_num_threads()})
        _write_json(done, metrics)
        if not keep_checkpoint:
            shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    return metrics


# ------------------------------------------------------------------------------------------- evaluate
def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a run folder of :func:`run` (``recipe.yaml`` beside ``model.safetensors``)."""
    path = Path(path)
    return (path / "recipe.yaml").is_file() and (path / "model.safetensors").is_file()


def load_run_model(folder: str | Path, *, allow_modified: bool = False):
    """Rebuild the model of a finished run folder from its ``recipe.yaml`` and ``config.json``; its weights must
    match the sha256 config.json records (``allow_modified`` loads them anyway, with a warning)."""
    from zoo.registry import create_model

    from zoo.hub.folders import load_weights, read_config
    from zoo.hub.validate import check_arguments, verify_weights

    folder = Path(folder)
    recipe = load_recipe(folder / "recipe.yaml")
    config = read_config(folder / "config.json") if (folder / "config.json").exists() else {}
    verify_weights(folder / "model.safetensors", config, where=str(folder), allow_modified=allow_modified)
    config.pop(WEIGHTS_SHA_KEY, None)
    check_arguments(config, str(folder / "config.json"))
    model = create_model(recipe.arch, **config) if config else build_model(recipe, load_data(recipe))
    load_weights(model, folder / "model.safetensors", verify=False)  # strict; a damaged file is one sentence
    return model, recipe


class Evaluation(dict):
    """Loss and metrics (the dict itself) and ``scored``: one sentence saying which data and split they are on."""

    scored: str = ""


def _recipe_of(model_ref: str) -> Recipe | None:
    """The committed recipe of a published ``arch.tag`` (``train/recipes/<name>.yaml``), if there is one."""
    from zoo.resources import resource_dir

    path = resource_dir("train/recipes") / f"{model_ref}.yaml"
    return load_recipe(path) if "/" not in model_ref and path.is_file() else None


def evaluate_model(model_ref: str, dataset: str | None = None, split: str = "test", *, source: str | None = None,
                   protocol: str | None = None, batch_size: int = 512, device: str = "auto") -> Evaluation:
    """Loss and metrics of a run folder, a model folder or a published ``arch.tag`` on a dataset split.

    By default the data is the model's own: the run's recipe (a published weight: its committed recipe), with
    its split protocol (``data_args``), so the test split is the one the run was trained and scored with.
    ``dataset`` names other data (its default split); ``protocol`` picks another split protocol. The result's
    ``scored`` says which it was."""
    path = Path(model_ref)
    if is_run_folder(path):
        model, recipe = load_run_model(path)
        whose = "the run's"
    else:  # a published arch.tag, a model folder (a fine-tune's) or a Hub repo id, as `genozoo predict` takes them
        from zoo.hub.resolve import load_named

        model = load_named(model_ref)
        recipe, whose = _recipe_of(model_ref), "its"
    own = recipe is not None and dataset in (None, recipe.dataset)
    if dataset is None and not own:
        raise UserError(f"{model_ref} has no recipe to take its data from; name the data with --dataset")
    data_args = dict(recipe.data_args) if own else {}
    dataset = recipe.dataset if own else dataset
    if protocol is not None:
        if "train" in data_args or Path(dataset).exists():  # the user's own files, or a data folder
            mine = "the run was trained on data files" if "train" in data_args else f"{dataset!r} is a file or folder"
            raise UserError(f"--protocol applies to benchmarks only (see `genozoo data info NAME`) and {mine}, "
                            "not a benchmark; drop --protocol")
        if not str(protocol).strip():
            raise UserError("--protocol is empty; name a split protocol of the benchmark (see `genozoo data info "
                            f"{dataset}`), or drop it")
        data_args["protocol"] = protocol
    # The recipe's local copy when this machine has it (a checkout's ../shared/data), else the benchmark's own
    # download or cache (checksummed): an installed package has no such folder.
    recipe_source = _source_here(recipe.source) if own else None
    probe = Recipe(arch=getattr(model, "arch", "") or "model", dataset=dataset, source=source or recipe_source,
                   data_args=data_args)
    ds = load_data(probe, need=(split,))
    data_names = list(getattr(ds[split].features.get("label"), "names", None) or model.label_names)
    if len(data_names) != model.num_classes:
        raise UserError(f"dataset {dataset!r} has {len(data_names)} classes but the model predicts "
                        f"{model.num_classes}; evaluate it on data with the same labels")
    from zoo.data.user import match_label_names

    order = match_label_names(data_names, model.label_names, f"dataset {dataset!r}", model_ref)
    if order is not None:  # the model's classes in another order: each label mapped by name
        import datasets

        features = ds[split].features.copy()
        features["label"] = datasets.ClassLabel(names=list(model.label_names))
        ds[split] = ds[split].map(lambda rows: {"label": [order[int(v)] for v in rows["label"]]}, batched=True,
                                  features=features)
    seed_everything(0)
    result = Evaluation(evaluate(model, ds[split], batch_size=batch_size, device=resolve_device(device)).as_dict())
    how = ", ".join(f"{k}={v}" for k, v in sorted(data_args.items())) or "the default split"
    if own and data_args == recipe.data_args:
        result.scored = f"scored the {split} split of {dataset} as {whose} recipe made it ({how})"
    else:
        result.scored = f"scored the {split} split of {dataset} ({how})" + (
            f", not the split of {whose} recipe ({recipe.dataset}, "
            f"{', '.join(f'{k}={v}' for k, v in sorted(recipe.data_args.items())) or 'the default split'})"
            if recipe is not None else "")
    return result
