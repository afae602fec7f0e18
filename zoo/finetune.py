"""Fine-tune a baseline on your own data: new label set, new sequence length, a held-out validation split, the
training engine, and a Hub-ready model folder whose card names the base model, the data and the metrics.

:func:`finetune` (and ``genozoo finetune``) takes a base model (published ``arch.tag``, model folder or Hub repo
id) and data (a FASTA / CSV / TSV file, a saved ``DatasetDict`` folder, or a benchmark name), then:

1. loads the data as train/validation/test (a file is split 70/15/15, stratified; data without a validation split
   gets one carved from train, 15%, stratified, fixed seed);
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
   ``metrics.json`` and ``epochs.json``. ``genozoo push DIR --repo ORG/NAME`` publishes it.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from zoo.errors import UserError

__all__ = ["FinetuneResult", "load_data", "adapt_model", "finetune"]

SPLIT_SEED = 3264


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


# ------------------------------------------------------------------------------------------------- data
def _label_names(ds) -> list[str]:
    names = getattr(ds["train"].features.get("label"), "names", None)
    if names:
        return list(names)
    values = sorted({int(v) for s in ds for v in ds[s]["label"]})
    return [str(i) for i in range(max(values) + 1)]


def load_data(data, *, label_column: str | None = None, sequence_column: str | None = None,
              source: str | None = None, seed: int = SPLIT_SEED, validation_fraction: float = 0.15):
    """Fine-tuning data as a ``DatasetDict`` with ``train``, ``validation`` (and usually ``test``) splits with
    columns ``sequence`` and ``label`` (``ClassLabel``), from a file, a saved ``DatasetDict`` folder, a benchmark
    name or a ``DatasetDict``. Returns ``(dataset_dict, name, split_description)``."""
    import datasets

    from zoo.data import carve_validation, from_files, load_benchmark

    name = str(data) if not isinstance(data, (datasets.DatasetDict, dict)) else "in-memory data"
    split_desc = "train/validation/test as given"
    if isinstance(data, (datasets.DatasetDict, dict)):
        ds = datasets.DatasetDict(data)
    elif Path(str(data)).is_dir():
        if not (Path(data) / "dataset_dict.json").is_file():
            raise UserError(f"folder {str(data)!r} is not a saved dataset (no dataset_dict.json); give a FASTA/CSV "
                            "file, a benchmark name or a folder written by DatasetDict.save_to_disk")
        ds = datasets.load_from_disk(str(data))
        name = Path(data).name
    elif Path(str(data)).is_file():
        ds = from_files(data, label_column=label_column, sequence_column=sequence_column, seed=seed)
        name = Path(data).name
        split_desc = f"stratified 70/15/15 train/validation/test of the file, seed {seed}"
    else:
        ds = load_benchmark(str(data), source=source, progress=False)
    ds = datasets.DatasetDict(ds)
    for split in list(ds):
        cols = ds[split].column_names
        if label_column and label_column != "label" and label_column in cols:
            ds[split] = ds[split].rename_column(label_column, "label")
        if sequence_column and sequence_column != "sequence" and sequence_column in cols:
            ds[split] = ds[split].rename_column(sequence_column, "sequence")
    if "train" not in ds:
        raise UserError(f"data {name!r} has no train split; its splits are {', '.join(ds) or 'none'}")
    for col in ("sequence", "label"):
        if col not in ds["train"].column_names:
            hint = "--label-column" if col == "label" else "--sequence-column"
            raise UserError(f"data {name!r} has no {col!r} column (columns: {', '.join(ds['train'].column_names)}); "
                            f"name it with {hint}")
    if not isinstance(ds["train"].features["label"], datasets.ClassLabel):
        ds = ds.class_encode_column("label")
    if "validation" not in ds:
        # Held out from train, stratified with a fixed seed, so a rerun splits the same way.
        tr, va = carve_validation(np.asarray(ds["train"]["label"]), validation_fraction, seed=seed)
        train = ds["train"]
        ds["train"], ds["validation"] = train.select(tr), train.select(va)
        split_desc = f"validation carved from train ({validation_fraction:.0%}, stratified, seed {seed})" + \
            (", test as given" if "test" in ds else ", no test split")
    return ds, name, split_desc


# ------------------------------------------------------------------------------------------------ model
def _constructor_args(model) -> dict[str, Any]:
    args = dict(getattr(model, "_hub_mixin_config", None) or {})
    args.update(num_classes=model.num_classes, seq_len=model.seq_len, label_names=list(model.label_names))
    return args


def adapt_model(base, *, label_names: Sequence[str], seq_len: int | None = None, seed: int = 0):
    """A new model of ``base``'s architecture for ``label_names`` and ``seq_len``, holding every base weight whose
    shape still fits. Returns ``(model, transferred_keys, reinitialized_keys)``; the classifier is among the
    reinitialized ones whenever the label set differs from the base's."""
    from zoo.registry import model_entrypoint

    arch = getattr(base, "arch", "")
    if not arch:
        raise UserError("the base model has no architecture name (model.arch); load it with zoo.create_model or "
                        "zoo.hub.load_model")
    if not getattr(base, "is_classifier", True):
        raise UserError(f"{arch} is not a classifier, so it cannot be fine-tuned for labels")
    args = _constructor_args(base)
    args.update(num_classes=len(label_names), label_names=list(label_names), seq_len=seq_len or base.seq_len)
    torch.manual_seed(seed)  # the fresh layers start the same way on every run
    model = model_entrypoint(arch)(**args)
    model.arch = arch
    new_head = list(label_names) != list(base.label_names)
    prefix = getattr(model, "classifier", "head") + "."
    src, own = base.state_dict(), model.state_dict()
    transferred = [k for k, v in own.items()
                   if not (new_head and k.startswith(prefix)) and k in src and src[k].shape == v.shape]
    model.load_state_dict({k: src[k] for k in transferred}, strict=False)
    fresh = [k for k in own if k not in set(transferred)]
    return model, transferred, fresh


def _freeze(model, fresh: Sequence[str]) -> None:
    """Train only the classifier and the parameters that start fresh."""
    prefix = getattr(model, "classifier", "head") + "."
    keep = set(fresh)
    for name, p in model.named_parameters():
        p.requires_grad_(name in keep or name.startswith(prefix))


def _base_record(base, spec: str | None, base_model_id: str | None):
    """The record of the weights fine-tuning starts from (``model.pretrained_cfg``), so the saved config.json and
    card name it as ``base_model``; ``None`` when it has no Hub identity."""
    from zoo.hub import hub_org, read_config
    from zoo.registry import PretrainedCfg

    cfg = getattr(base, "pretrained_cfg", None)
    if cfg is not None and base_model_id is None:
        return cfg
    hub_id, tag = base_model_id, "base"
    if hub_id is None and spec:
        path = Path(spec)
        if path.is_dir() and (path / "config.json").is_file():
            name = read_config(path / "config.json").get("name")
            hub_id = f"{hub_org()}/{name}" if name else None  # where genozoo publishes a named weight
        elif spec.count("/") == 1 and not path.exists():
            hub_id = spec  # a Hub repo id
    if hub_id is None:
        return None
    tag = hub_id.rsplit("/", 1)[-1].split(".", 1)[-1] or tag
    return PretrainedCfg(arch=base.arch, tag=f"{tag}", num_classes=base.num_classes, seq_len=base.seq_len,
                         label_names=tuple(base.label_names), encoding=base.encoding.to_dict(), hub_id=hub_id)


def _default_seq_len(ds, base) -> int:
    lengths = {len(s) for s in ds["train"]["sequence"][:10000]}
    return lengths.pop() if len(lengths) == 1 else base.seq_len


def _command(base_spec: str, data_name: str, options: dict[str, Any]) -> str:
    parts = ["genozoo", "finetune", base_spec, "--data", data_name]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "-" + key if len(key) == 1 else "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def finetune(base, data, output_dir: str | os.PathLike | None = None, *, label_column: str | None = None,
             sequence_column: str | None = None, num_classes: int | None = None, seq_len: int | None = None,
             freeze_trunk: bool = False, epochs: int = 10, lr: float = 1e-3, batch_size: int = 32,
             patience: int | None = None, seed: int = 0, device: str = "auto", source: str | None = None,
             base_model_id: str | None = None, tag: str | None = None, quiet: bool = False,
             allow_modified: bool = False) -> FinetuneResult:
    """Fine-tune ``base`` (a model, a published ``arch.tag``, a model folder or a Hub repo id) on ``data`` and,
    with ``output_dir``, write a Hub-ready model folder. See the module docstring for every step."""
    from zoo.engine import TrainConfig, evaluate, fit, resolve_device, seed_everything
    from zoo.predict import load_model

    from zoo.outputs import check_output_folder

    if output_dir is not None:
        check_output_folder(output_dir)  # refused before minutes of training, not after
    spec = None if isinstance(base, torch.nn.Module) else str(base)
    base_model = base if spec is None else load_model(spec, allow_modified=allow_modified)
    ds, data_name, split_desc = load_data(data, label_column=label_column, sequence_column=sequence_column,
                                          source=source)
    names = _label_names(ds)
    if len(names) < 2:
        raise UserError(f"the data has a single class ({', '.join(names)}); a classifier needs at least two, so "
                        f"add sequences of another class or check --label-column")
    if num_classes is not None and num_classes != len(names):
        raise UserError(f"--num-classes {num_classes} does not match the data, which has {len(names)} classes "
                        f"({', '.join(names)})")
    length = seq_len or _default_seq_len(ds, base_model)
    seed_everything(seed)
    model, transferred, fresh = adapt_model(base_model, label_names=names, seq_len=length, seed=seed)
    if freeze_trunk:
        _freeze(model, fresh)
    record = _base_record(base_model, spec, base_model_id)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, patience=patience, seed=seed, device=device,
                      quiet=quiet)
    fitted = fit(model, ds["train"], ds["validation"], cfg)
    dev = resolve_device(device)
    metrics = {"validation": evaluate(model, ds["validation"], device=dev).as_dict()}
    if "test" in ds:
        metrics["test"] = evaluate(model, ds["test"], device=dev).as_dict()
    model.cpu().eval()
    model.requires_grad_(True)
    base_id = None
    if record is not None:
        from zoo.hub import repo_id_for

        model.pretrained_cfg = record
        base_id = repo_id_for(record)
    result = FinetuneResult(model, base_id, names, length, transferred, fresh, metrics, fitted.history)
    if output_dir is not None:
        options = dict(label_column=label_column, sequence_column=sequence_column, num_classes=num_classes,
                       seq_len=seq_len, freeze_trunk=freeze_trunk, epochs=epochs, lr=lr, batch_size=batch_size,
                       patience=patience, seed=seed)
        command = _command(spec or base_model.arch, str(data) if isinstance(data, (str, os.PathLike)) else data_name,
                           {**options, "o": str(output_dir)})
        result.output_dir = _save(result, Path(output_dir), spec or base_model.arch, data_name, split_desc, tag,
                                  command, seed)
    return result


def _save(result: FinetuneResult, out: Path, base_spec: str, data_name: str, split_desc: str, tag: str | None,
          command: str, seed: int) -> Path:
    from zoo.checkpoint import atomic_write_text
    from zoo.hub import save_model
    from zoo.registry import PretrainedCfg

    model = result.model
    tag = tag or re.sub(r"[^A-Za-z0-9_-]+", "-", out.resolve().name).strip("-") or "finetuned"
    split_metrics = result.metrics.get("test") or result.metrics["validation"]
    split = "test" if "test" in result.metrics else "validation"
    ctor = {k: v for k, v in _constructor_args(model).items() if k not in ("num_classes", "seq_len", "label_names")}
    notes = (f"Fine-tuned from {result.base_model or base_spec}: {len(result.transferred)} tensors transferred, "
             f"{len(result.reinitialized)} started fresh ({', '.join(result.reinitialized) or 'none'}). "
             f"Metrics are on the {split} split of {data_name} ({split_desc}), one seed.")
    card_cfg = PretrainedCfg(
        arch=model.arch, tag=tag, num_classes=model.num_classes, seq_len=model.seq_len,
        label_names=tuple(model.label_names), encoding=model.encoding.to_dict(), model_args=ctor,
        num_params=model.num_parameters(trainable=False), dataset=data_name, split=split_desc,
        metrics={k: {"mean": float(v)} for k, v in split_metrics.items() if k != "loss"},
        seeds=(seed,), seed=seed, recipe=command, notes=notes)
    base = getattr(model, "pretrained_cfg", None)
    if base is not None and base.name == card_cfg.name:  # keep the base distinct from the new weight
        card_cfg = PretrainedCfg.from_dict({**card_cfg.to_dict(), "tag": tag + "-ft"})
    save_model(model, out, card_cfg, dataset=data_name, split=split_desc)
    atomic_write_text(out / "metrics.json", json.dumps(result.metrics, indent=1) + "\n")
    atomic_write_text(out / "epochs.json", json.dumps(result.history, indent=1) + "\n")
    return out
