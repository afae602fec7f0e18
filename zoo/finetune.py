"""Fine-tune a baseline on your own data: new label set, new sequence length, a held-out validation split, the
training engine, and a Hub-ready model folder whose card names the base model, the data and the metrics.

:func:`finetune` (and ``genozoo finetune``) takes a base model (published ``arch.tag``, model folder or Hub repo
id) and data (FASTA / CSV / TSV files in any layout :func:`zoo.data.from_files` reads, with optional separate
``validation`` / ``test`` sources and labels files; a saved ``DatasetDict`` folder; or a benchmark name), then:

1. loads the data as train/validation/test (one source is split 70/15/15, stratified; data without a validation
   split gets one carved from train, 15%, stratified, fixed seed); ``label_map`` renames the data's classes
   (``{"0": "negative", "1": "positive"}``), and when the classes are then the base model's, in any order, they
   take the base's order so its classifier is kept;
2. rebuilds the architecture with the data's classes and sequence length (:func:`adapt_model`) and copies every
   base weight whose shape still fits. Choice for a new length: *rebuild and load what fits*, not pad/crop: layers
   whose size depends on the length (a flattening dense layer, BERT's position table) start fresh, everything else
   (convolutions, LSTMs, embeddings, length-independent dense layers) is transferred. The classifier (the layer the
   model names in ``model.classifier``) is replaced whenever the label set differs. ``--seq-len`` overrides the
   length taken from the data (default: the data's length when all sequences share it, else the base model's,
   with the usual pad/crop);
3. ``freeze_trunk`` trains only the new classifier and the layers that had to start fresh;
4. trains with :func:`zoo.engine.fit` (best epoch by validation loss), evaluates on the test split, and writes the
   folder with :func:`zoo.hub.save_model` (weights, config.json, card with ``base_model``, data and metrics), plus
   ``metrics.json`` and ``epochs.json``. ``genozoo push DIR --repo ORG/NAME`` publishes it. A model that learned
   nothing (:func:`zoo.engine.learned_nothing`: no better on validation than a constant answer, typically a
   learning rate far too high) is still written, with a warning, and its card says so.

A validation or test split of fewer than :data:`FEW_SEQUENCES` (20) sequences is said in the card's notes and
``FinetuneResult.small_splits`` and warned about (:class:`SmallSplit`) once the model is written:
one sequence more or less right moves its accuracy by 5 points or more, so the best epoch and the reported metrics
are then anecdotes, not measurements (a test accuracy of 1.000 from one sequence says nothing).

``from_scratch=True`` is the honest comparison: the same architecture (and constructor arguments) with fresh
weights, trained on the same data with the same budget; its card says so and names no base model.
``compare_scratch=True`` trains that too after fine-tuning and reports both test results. A model passed in memory
without a published record has no weights anyone else can fetch, so it is treated as from scratch (its architecture
rebuilt with fresh, seeded weights) unless ``from_scratch=False``; the card's command then reruns it.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from zoo.errors import UserError

from zoo.data.quality import FEW_SEQUENCES, small_splits
from zoo.data.user import apply_label_map, is_dataset_dict as _is_dataset_dict, is_files as _is_files
from zoo.data.user import label_names_of as _label_names, load_data, parse_label_map, require_classes

__all__ = ["FinetuneResult", "load_data", "adapt_model", "fresh_model", "apply_label_map", "parse_label_map",
           "finetune", "FEW_SEQUENCES", "SmallSplit"]


class SmallSplit(UserWarning):
    """The validation or test split holds fewer than :data:`FEW_SEQUENCES` sequences: its scores are too noisy to
    choose an epoch or report a result by."""

_log = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    model: Any
    base_model: str | None
    label_names: list[str]
    seq_len: int
    transferred: list[str]
    reinitialized: list[str]
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, float]] = field(default_factory=list)
    output_dir: Path | None = None
    from_scratch: bool = False
    scratch_metrics: dict[str, dict[str, float]] | None = None  # compare_scratch: the same budget from scratch
    seconds: float = 0.0                 # wall-clock training time
    scratch_seconds: float | None = None
    cpu_seconds: float = 0.0             # CPU time of training (all threads)
    num_params: int = 0
    learned_nothing: str | None = None   # why the model learned nothing (zoo.engine.learned_nothing), if it did
    small_splits: str | None = None      # which evaluation splits hold fewer than FEW_SEQUENCES sequences, if any


# ------------------------------------------------------------------------------------------------ model
def _constructor_args(model) -> dict[str, Any]:
    args = dict(getattr(model, "_hub_mixin_config", None) or {})
    args.update(num_classes=model.num_classes, seq_len=model.seq_len, label_names=list(model.label_names))
    return args


def _model_args(model) -> dict[str, Any]:
    """The constructor arguments that are not the task's geometry (what ``--model-args`` takes)."""
    return {k: v for k, v in _constructor_args(model).items() if k not in ("num_classes", "seq_len", "label_names")}


def fresh_model(arch: str, *, label_names: Sequence[str], seq_len: int, model_args: Mapping[str, Any] | None = None,
                seed: int = 0):
    """``arch`` with fresh weights (seeded) for ``label_names`` and ``seq_len``: the from-scratch baseline."""
    from zoo.registry import create_model_from_args

    torch.manual_seed(seed)
    return create_model_from_args(arch, "the model arguments (--model-args)",
                                  **{**dict(model_args or {}), "num_classes": len(label_names),
                                     "label_names": list(label_names), "seq_len": seq_len})


def adapt_model(base, *, label_names: Sequence[str], seq_len: int | None = None, seed: int = 0):
    """A new model of ``base``'s architecture for ``label_names`` and ``seq_len``, holding every base weight whose
    shape still fits. Returns ``(model, transferred_keys, reinitialized_keys)``; the classifier is among the
    reinitialized ones whenever the label set differs from the base's."""
    arch = getattr(base, "arch", "")
    if not arch:
        raise UserError("the base model has no architecture name (model.arch); load it with zoo.create_model or "
                        "zoo.hub.load_model")
    if not getattr(base, "is_classifier", True):
        raise UserError(f"{arch} is not a classifier, so it cannot be fine-tuned for labels")
    model = fresh_model(arch, label_names=label_names, seq_len=seq_len or base.seq_len, model_args=_model_args(base),
                        seed=seed)  # the fresh layers start the same way on every run
    new_head = list(label_names) != list(base.label_names)
    head = model.classifier_prefixes()
    src, own = base.state_dict(), model.state_dict()
    transferred = [k for k, v in own.items()
                   if not (new_head and k.startswith(head)) and k in src and src[k].shape == v.shape]
    model.load_state_dict({k: src[k] for k in transferred}, strict=False)
    fresh = [k for k in own if k not in set(transferred)]
    return model, transferred, fresh


def _freeze(model, fresh: Sequence[str]) -> None:
    """Train only the classifier and the parameters that start fresh."""
    head = model.classifier_prefixes()
    keep = set(fresh)
    for name, p in model.named_parameters():
        p.requires_grad_(name in keep or name.startswith(head))


def _base_record(base, spec: str | None, base_model_id: str | None):
    """The record of the weights fine-tuning starts from (``model.pretrained_cfg``), so the saved config.json and
    card name it as ``base_model``; ``None`` when it has no Hub identity."""
    from zoo.hub import read_config
    from zoo.registry import PretrainedCfg, list_models, pretrained_cfg, repo_id_for

    cfg = getattr(base, "pretrained_cfg", None)
    if cfg is not None and base_model_id is None:
        return cfg
    hub_id, tag = base_model_id, "base"
    if hub_id is None and spec:
        path = Path(spec)
        if path.is_dir() and (path / "config.json").is_file():
            name = read_config(path / "config.json").get("name")
            # A copy of a published weight names its Hub repo; a folder of one's own (a fine-tune, a test weight)
            # has no Hub identity to claim: the card names the folder instead.
            published = isinstance(name, str) and name in list_models(pretrained=True)
            hub_id = repo_id_for(pretrained_cfg(name)) if published else None
        elif spec.count("/") == 1 and not path.exists():
            hub_id = spec  # a Hub repo id
    if hub_id is None:
        return None
    tag = hub_id.rsplit("/", 1)[-1].split(".", 1)[-1] or tag
    return PretrainedCfg(arch=base.arch, tag=f"{tag}", num_classes=base.num_classes, seq_len=base.seq_len,
                         label_names=tuple(base.label_names), encoding=base.encoding.to_dict(), hub_id=hub_id)


def _default_seq_len(ds, base) -> int:
    lengths = {len(s) for s in ds["train"]["sequence"][:10000]}
    if len(lengths) == 1:
        return lengths.pop()
    if base is None:
        raise UserError(f"the sequences have {len(lengths)}+ different lengths; give the model's length with "
                        "--seq-len (they are padded or cropped to it)")
    return base.seq_len


def _data_flags(data, validation, test, labels, label_names) -> list[str]:
    """The command-line flags that read the same data again (``--data A=a.fa --test t.fa --labels ...``)."""
    def files(flag: str, source) -> list[str]:
        if source is None:
            return []
        if isinstance(source, Mapping):
            items = [(k, f) for k, v in source.items() for f in ([v] if isinstance(v, (str, os.PathLike)) else v)]
            return [x for k, f in items for x in (flag, f"{k}={f}")]
        many = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        return [x for f in many for x in (flag, str(f))]

    out = files("--data", data) + files("--validation", validation) + files("--test", test)
    out += files("--labels", labels)
    if label_names:
        out += ["--label-names", ",".join(label_names)]
    return out


def _command(base_spec: str, data_flags: list[str], options: dict[str, Any]) -> str:
    parts = ["genozoo", "finetune", base_spec, *data_flags]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "-" + key if len(key) == 1 else "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(str(p)) for p in parts)


#: A Hub repo id as ``--base-model`` takes it: ORG/NAME, each part letters, digits, ``_ . -``, no ``..``.
_REPO_ID_RE = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def _resolve_base(base, from_scratch: bool | None, base_model_id: str | None, allow_modified: bool = False):
    """``(spec, base model or None, arch, from_scratch)``: a bare architecture name is allowed from scratch; a
    model in memory with neither a record nor a ``base_model_id`` counts as its architecture from scratch."""
    from zoo.predict import load_model
    from zoo.registry import is_model

    if isinstance(base, torch.nn.Module):
        if from_scratch is None and getattr(base, "pretrained_cfg", None) is None and base_model_id is None:
            _log.warning("the base model has no published record, so it is treated as its architecture trained "
                         "from scratch (fresh weights); pass from_scratch=False (or base_model_id=) to start from "
                         "its weights")
            from_scratch = True
        return None, base, getattr(base, "arch", ""), bool(from_scratch)
    spec = str(base)
    if from_scratch and "." not in spec and "/" not in spec and not Path(spec).exists() and is_model(spec):
        return spec, None, spec, True  # an architecture: nothing to load
    model = load_model(spec, allow_modified=allow_modified)
    return spec, model, model.arch, bool(from_scratch)


def finetune(base, data, output_dir: str | os.PathLike | None = None, *, validation=None, test=None, labels=None,
             label_names: Sequence[str] | None = None, label_map: str | Mapping[str, str] | None = None,
             format: str = "auto", label_column: str | None = None, sequence_column: str | None = None,
             num_classes: int | None = None, seq_len: int | None = None, freeze_trunk: bool = False,
             from_scratch: bool | None = None, compare_scratch: bool = False,
             model_args: Mapping[str, Any] | None = None, epochs: int = 10, lr: float = 1e-3, batch_size: int = 32,
             patience: int | None = None, seed: int = 0, device: str = "auto", source: str | None = None,
             base_model_id: str | None = None, tag: str | None = None, quiet: bool = False,
             allow_modified: bool = False, overwrite: bool = False) -> FinetuneResult:
    """Fine-tune ``base`` (a model, a published ``arch.tag``, a model folder or a Hub repo id; with
    ``from_scratch`` also a bare architecture name) on ``data`` and, with ``output_dir``, write a Hub-ready model
    folder; a folder that already holds a model is refused unless ``overwrite``. See the module docstring for
    every step."""
    import time

    from zoo.data.load import datasets_progress
    from zoo.engine import TrainConfig, evaluate, fit, resolve_device, seed_everything
    from zoo.outputs import check_output_folder

    from zoo.runtime import check_device

    check_device(device)  # an unknown or absent device is one sentence now, not a traceback after loading
    if base_model_id is not None and not _REPO_ID_RE.match(str(base_model_id)):
        raise UserError(f"--base-model {str(base_model_id)!r} is not a Hub repo id; give it as ORG/NAME (e.g. "
                        "genozoo/deepram_conv1d_onehot.splice), or leave it out to take the base model's own")
    if output_dir is not None:
        check_output_folder(output_dir)  # refused before minutes of training, not after
        held = [n for n in ("config.json", "model.safetensors") if (Path(output_dir) / n).exists()]
        if held and not overwrite:
            raise UserError(f"{str(output_dir)!r} already holds a model ({' and '.join(held)}); choose another "
                            f"--output (-o), or pass --overwrite (overwrite=True) to replace it")
    spec, base_model, arch, from_scratch = _resolve_base(base, from_scratch, base_model_id, allow_modified)
    if from_scratch and freeze_trunk:
        raise UserError("--freeze-trunk keeps pretrained layers fixed; from scratch there are none, so drop one")
    with datasets_progress(not quiet):  # quiet: no "Map" bars from the datasets library either
        ds, data_name, split_desc = load_data(data, validation=validation, test=test, labels=labels,
                                              label_names=label_names, format=format, label_column=label_column,
                                              sequence_column=sequence_column, source=source)
        mapping = parse_label_map(label_map)
        keep_order = None if from_scratch or base_model is None else list(base_model.label_names)
        if mapping or keep_order is not None:
            ds = apply_label_map(ds, mapping, keep_order)
    names = _label_names(ds)
    require_classes(names, len(ds["train"]))
    if num_classes is not None and num_classes != len(names):
        raise UserError(f"--num-classes {num_classes} does not match the data, which has {len(names)} classes "
                        f"({', '.join(names)})")
    small = _small_splits(ds)
    length = seq_len or _default_seq_len(ds, base_model)
    ctor = dict(model_args) if model_args is not None else (_model_args(base_model) if base_model is not None else {})
    seed_everything(seed)
    if from_scratch:
        model = fresh_model(arch, label_names=names, seq_len=length, model_args=ctor, seed=seed)
        transferred, fresh = [], list(model.state_dict())
    else:
        model, transferred, fresh = adapt_model(base_model, label_names=names, seq_len=length, seed=seed)
    if freeze_trunk:
        _freeze(model, fresh)
    record = None if from_scratch else _base_record(base_model, spec, base_model_id)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, patience=patience, seed=seed, device=device,
                      quiet=quiet)
    dev = resolve_device(device)

    cpu: list[float] = []  # CPU seconds of each training (all threads), a figure a busy machine does not inflate

    def train_and_score(m) -> tuple[dict, Any, float]:
        start, start_cpu = time.perf_counter(), time.process_time()
        fitted = fit(m, ds["train"], ds["validation"], cfg)  # warns (LearnedNothing) when the model learned nothing
        seconds = time.perf_counter() - start
        cpu.append(time.process_time() - start_cpu)
        scores = {"validation": evaluate(m, ds["validation"], device=dev).as_dict()}
        if "test" in ds:
            scores["test"] = evaluate(m, ds["test"], device=dev).as_dict()
        return scores, fitted, seconds

    metrics, fitted, seconds = train_and_score(model)
    model.cpu().eval()
    model.requires_grad_(True)
    base_id = None
    if record is not None:
        from zoo.hub import repo_id_for

        model.pretrained_cfg = record
        base_id = repo_id_for(record)
    result = FinetuneResult(model, base_id, names, length, transferred, fresh, metrics, fitted.history,
                            from_scratch=from_scratch, seconds=seconds, cpu_seconds=cpu[0],
                            num_params=model.num_parameters(trainable=False), learned_nothing=fitted.learned_nothing,
                            small_splits=small)
    if compare_scratch and not from_scratch:
        seed_everything(seed)
        scratch = fresh_model(arch, label_names=names, seq_len=length, model_args=ctor, seed=seed)
        result.scratch_metrics, _, result.scratch_seconds = train_and_score(scratch)
    if output_dir is not None:
        options = dict(label_map=",".join(f"{k}={v}" for k, v in mapping.items()) or None, format=None if
                       format == "auto" else format, label_column=label_column, sequence_column=sequence_column,
                       num_classes=num_classes, seq_len=seq_len, freeze_trunk=freeze_trunk,
                       from_scratch=from_scratch, model_args=json.dumps(ctor, sort_keys=True)
                       if from_scratch and (spec is None or model_args is not None) else None,
                       compare_scratch=compare_scratch and not from_scratch, epochs=epochs, lr=lr,
                       batch_size=batch_size, patience=patience, seed=seed, source=source)
        data_flags = (_data_flags(data, validation, test, labels, label_names) if _is_files(data) and
                      not _is_dataset_dict(data) else ["--data", str(data) if isinstance(data, (str, os.PathLike))
                                                       else data_name])
        command = _command(spec or arch, data_flags, {**options, "o": str(output_dir)})
        result.output_dir = _save(result, Path(output_dir), spec or arch, data_name, split_desc, tag, command,
                                  seed)
    if small:  # with the result it is about (a bake-off says it once for all its runs)
        import warnings

        warnings.warn(small, SmallSplit, stacklevel=2)
    return result


def _small_splits(ds) -> str | None:
    """:func:`zoo.data.quality.small_splits` of ``ds``'s splits."""
    return small_splits({name: len(ds[name]) for name in ds})


def _unwritable(err: OSError, out: Path) -> OSError:
    """``err``, raised writing the model folder ``out`` (through its temporary sibling folder), as the error of the
    output the user gave (:func:`zoo.errors.write_failure`); another error is left as it is."""
    from zoo.errors import EnvironmentFailure, write_failure

    names = [os.fsdecode(f) for f in (err.filename, err.filename2) if f is not None]
    ours = any(os.path.abspath(f).startswith((str(out.absolute()), str(out.absolute().parent / f".{out.name}.")))
               for f in names)
    if err.errno is None or isinstance(err, EnvironmentFailure) or not ours:
        return err
    return write_failure(err, out, out.parent)


def _save(result: FinetuneResult, out: Path, base_spec: str, data_name: str, split_desc: str, tag: str | None,
          command: str, seed: int) -> Path:
    from zoo.outputs import atomic_write_json
    from zoo.hub import save_model
    from zoo.registry import PretrainedCfg

    model = result.model
    tag = tag or re.sub(r"[^A-Za-z0-9_-]+", "-", out.resolve().name).strip("-") or "finetuned"
    split_metrics = result.metrics.get("test") or result.metrics["validation"]
    split = "test" if "test" in result.metrics else "validation"
    ctor = _model_args(model)
    if result.from_scratch:
        start = (f"Trained from scratch: the {model.arch} architecture with fresh weights (seed {seed}), no "
                 "pretrained weights and no base model.")
    else:
        start = (f"Fine-tuned from {result.base_model or base_spec}: {len(result.transferred)} tensors transferred, "
                 f"{len(result.reinitialized)} started fresh ({', '.join(result.reinitialized) or 'none'}).")
    notes = f"{start} Metrics are on the {split} split of {data_name} ({split_desc}), one seed."
    if result.scratch_metrics and "accuracy" in result.scratch_metrics.get(split, {}):
        notes += (f" The same architecture trained from scratch with the same budget reached "
                  f"{split} accuracy {result.scratch_metrics[split]['accuracy']:.3f} "
                  f"(fine-tuned: {split_metrics.get('accuracy', float('nan')):.3f}).")
    if result.learned_nothing:  # whoever downloads the model is told too, not only the terminal that trained it
        notes += f" Warning: {result.learned_nothing}."
    if result.small_splits:
        notes += f" Warning: {result.small_splits}."
    card_cfg = PretrainedCfg(
        arch=model.arch, tag=tag, num_classes=model.num_classes, seq_len=model.seq_len,
        label_names=tuple(model.label_names), encoding=model.encoding.to_dict(), model_args=ctor,
        num_params=model.num_parameters(trainable=False), dataset=data_name, split=split_desc,
        metrics={k: {"mean": float(v)} for k, v in split_metrics.items() if k != "loss"},
        seeds=(seed,), seed=seed, recipe=command, notes=notes)
    base = getattr(model, "pretrained_cfg", None)
    if base is not None and base.name == card_cfg.name:  # keep the base distinct from the new weight
        card_cfg = PretrainedCfg.from_dict({**card_cfg.to_dict(), "tag": tag + "-ft"})
    from zoo.outputs import _make_folders, _unmake

    made = _make_folders(out.parent, out)  # removed again when the model is not written: nothing left behind
    try:
        save_model(model, out, card_cfg, dataset=data_name, split=split_desc, keep_record=True)
    except OSError as err:  # the folder cannot be written (/proc, a full disk): say so, naming --output
        _unmake(made)
        failure = _unwritable(err, out)
        if failure is err:
            raise
        raise failure from err
    except BaseException:
        _unmake(made)
        raise
    metrics = dict(result.metrics)
    if result.scratch_metrics is not None:
        metrics["from_scratch"] = result.scratch_metrics
    atomic_write_json(out / "metrics.json", metrics)  # strict JSON: an undefined score is null, not NaN
    atomic_write_json(out / "epochs.json", result.history)
    return out
