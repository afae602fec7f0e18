"""Users' own labelled data, made ready for training on it: :func:`load_data` takes files in every layout
:func:`zoo.data.from_files` reads (with separate validation / test sources and labels files), a saved
``DatasetDict`` folder, a benchmark name or an in-memory ``DatasetDict``, and always returns train / validation
(/ test) with a ``ClassLabel`` ``label`` column; :func:`apply_label_map` renames classes and puts them in a
model's order. Used by fine-tuning and the bake-off. :func:`training_files` is :func:`zoo.data.from_files` for
training: labelled files of a single class are refused as they are read, unless the caller says that is fine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from zoo.errors import UserError

__all__ = ["training_files", "refuse_single_class", "check_label_names", "match_label_names", "load_data",
           "parse_label_map", "apply_label_map", "label_names_of", "require_classes", "is_files", "is_dataset_dict",
           "SPLIT_SEED"]

SPLIT_SEED = 3264


def require_classes(names: Sequence[str], rows: int | None = None) -> None:
    """Refuse training a classifier on data of fewer than two classes, or of more than 10 classes and more than half
    its ``rows`` (training rows): a column of ids or sequences taken for the labels."""
    if len(names) < 2:
        raise UserError(f"the data has a single class ({', '.join(names) or 'none'}); a classifier needs at least "
                        "two, so add sequences of another class or check the label column (--label-column)")
    if rows is not None and len(names) > max(10, rows // 2):
        raise UserError(f"the labels name {len(names):,} classes for {rows:,} training sequences (e.g. "
                        f"{', '.join(names[:3])}); that is not a label column: check --label-column")


def refuse_single_class(ds, sources: Sequence) -> None:
    """Refuse the ``DatasetDict`` ``ds`` read from the data files ``sources`` (the train, validation and test
    sources given) when its labels, over all its splits, name fewer than two classes: one sentence naming the one
    label found and the files."""
    from zoo.data.build import source_name

    names = label_names_of(ds)
    present = sorted({int(v) for split in ds for v in ds[split]["label"]})
    if len(present) >= 2:
        return
    found = repr(names[present[0]]) if present else "none"
    files = ", ".join(source_name(s) for s in sources)
    raise UserError(f"the data ({files}) has a single class, {found}; a classifier needs at least two, so add "
                    "sequences of another class or check the labels (--label-column, --labels)")


def training_files(train, validation=None, test=None, *, single_class: bool = False, **options):
    """:func:`zoo.data.from_files` (same arguments and result) for training a classifier: labelled data whose
    splits together hold fewer than two classes is refused here, with one sentence naming the label and the
    files, rather than after minutes of set-up. ``single_class=True`` accepts it (data only to score or to look
    at, such as a test set of one class; a single-class test split beside two-class training data is always
    fine)."""
    from zoo.data.build import from_files as read

    names = options.get("label_names")
    if names is not None:
        check_label_names(names)
    ds = read(train, validation, test, **options)
    if not single_class:
        refuse_single_class(ds, [s for s in (train, validation, test) if s is not None])
        if names is not None:
            present = {int(v) for split in ds for v in ds[split]["label"]}
            if len(present) != len(names):
                raise UserError(f"--label-names gives {len(names)} names ({', '.join(map(str, names))}) for data "
                                f"of {len(present)} classes; give exactly one name per class")
    return ds


def check_label_names(names: Sequence[str]) -> None:
    """Refuse class names (``--label-names``, ``label_names=``) that are empty or name a class twice: one sentence."""
    names = [str(n) for n in names]
    if not names:
        raise UserError("--label-names is empty; give the class names in order, e.g. --label-names negative,positive")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"--label-names names {', '.join(map(repr, twice))} more than once ({', '.join(names)}); "
                        "give each class its own name")


def match_label_names(data_names: Sequence[str], model_names: Sequence[str], dataset: str = "the data",
                      model: str = "the model") -> list[int] | None:
    """How to score data labelled ``data_names`` with a model predicting ``model_names``: ``None`` when they are
    the same classes in the same order; the model's index of each data class when they are the same names in
    another order (map by name); otherwise one sentence (a :class:`UserError`) naming both sets, so a model is
    never scored against other classes matched by position."""
    data_names, model_names = [str(n) for n in data_names], [str(n) for n in model_names]
    if data_names == model_names:
        return None
    if sorted(data_names) == sorted(model_names):
        return [model_names.index(n) for n in data_names]
    raise UserError(f"{dataset} has the classes {', '.join(data_names)} but {model} predicts "
                    f"{', '.join(model_names)}; evaluate it on data with the model's classes (or rename the data's "
                    "labels to them)")


def label_names_of(ds) -> list[str]:
    names = getattr(ds["train"].features.get("label"), "names", None)
    if names:
        return list(names)
    values = sorted({int(v) for s in ds for v in ds[s]["label"]})
    return [str(i) for i in range(max(values) + 1)]


def is_dataset_dict(data) -> bool:
    import datasets

    return isinstance(data, datasets.DatasetDict) or (
        isinstance(data, Mapping) and bool(data) and all(isinstance(v, datasets.Dataset) for v in data.values()))


def is_files(data) -> bool:
    """Files for :func:`zoo.data.from_files`: a class mapping, a list of files, or one existing file."""
    if isinstance(data, Mapping):
        return True
    if isinstance(data, (list, tuple)):
        return True
    return Path(str(data)).is_file()


def load_data(data, *, validation=None, test=None, labels=None, label_names: Sequence[str] | None = None,
              format: str = "auto", label_column: str | None = None, sequence_column: str | None = None,
              source: str | None = None, seed: int = SPLIT_SEED, validation_fraction: float = 0.15):
    """Fine-tuning data as a ``DatasetDict`` with ``train``, ``validation`` (and usually ``test``) splits with
    columns ``sequence`` and ``label`` (``ClassLabel``), from files in any layout :func:`zoo.data.from_files` takes
    (with ``validation`` / ``test`` / ``labels`` / ``label_names``), a saved ``DatasetDict`` folder, a benchmark
    name or a ``DatasetDict``. Returns ``(dataset_dict, name, split_description)``."""
    import datasets

    from zoo.data import carve_validation, load_benchmark
    from zoo.data.build import describe_split, source_name

    split_desc = "train/validation/test as given"
    separate = {k: v for k, v in (("validation", validation), ("test", test), ("labels", labels)) if v}
    if is_dataset_dict(data):
        ds, name = datasets.DatasetDict(data), "in-memory data"
    elif is_files(data):
        ds = training_files(data, validation or None, test or None, labels=labels or None, label_names=label_names,
                        format=format, label_column=label_column, sequence_column=sequence_column, seed=seed,
                        validation_fraction=validation_fraction)
        name = source_name(data)
        split_desc = describe_split(["train"] + [k for k in ("validation", "test") if separate.get(k)],
                                    validation_fraction=validation_fraction, seed=seed)
        separate = {}
    elif Path(str(data)).is_dir():
        if not (Path(data) / "dataset_dict.json").is_file():
            raise UserError(f"folder {str(data)!r} is not a saved dataset (no dataset_dict.json); give FASTA/CSV "
                            "files, a benchmark name or a folder written by DatasetDict.save_to_disk")
        ds = datasets.load_from_disk(str(data))
        name = Path(data).name
    else:  # a benchmark name; a path that does not exist is refused as such by the registry
        ds, name = load_benchmark(str(data), source=source, progress=False), str(data)
    if separate:
        raise UserError(f"{', '.join(separate)} go with data files (FASTA/CSV/TSV); {name!r} already holds its "
                        "splits and labels")
    ds = datasets.DatasetDict(ds)
    for split in list(ds) if not is_files(data) else ():  # from_files has read the named columns already
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


def parse_label_map(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"0=negative,1=positive"`` (or a mapping) as ``{"0": "negative", "1": "positive"}``."""
    if text is None or isinstance(text, Mapping):
        return {str(k): str(v) for k, v in (text or {}).items()}
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise UserError(f"label map {text!r}: {part!r} is not DATA_LABEL=MODEL_LABEL; write it as "
                            "0=negative,1=positive")
        out[old.strip()] = new.strip()
    return out


def apply_label_map(ds, label_map: Mapping[str, str], order: Sequence[str] | None = None):
    """Rename the data's classes with ``label_map`` (data label -> new name; unmapped ones keep theirs), then, when
    the new names are exactly the classes of ``order`` (a base model's labels), put them in that order."""
    import datasets

    names = label_names_of(ds)
    unknown = [k for k in label_map if k not in names]
    if unknown:
        raise UserError(f"the label map names {', '.join(map(repr, unknown))}, which the data does not have; its "
                        f"labels are {', '.join(names)}")
    renamed = [label_map.get(n, n) for n in names]
    if len(set(renamed)) != len(renamed):
        raise UserError(f"the label map gives two classes the same name ({', '.join(renamed)}); map each data "
                        "label to its own name")
    target = list(order) if order is not None and sorted(order) == sorted(renamed) else renamed
    if target == names:
        return ds
    index = np.asarray([target.index(n) for n in renamed])
    feats = ds["train"].features.copy()
    feats["label"] = datasets.ClassLabel(names=target)
    return datasets.DatasetDict({s: d.map(lambda b: {"label": index[np.asarray(b["label"], dtype=np.int64)].tolist()},
                                          batched=True, features=feats, keep_in_memory=True)
                                 for s, d in ds.items()})
