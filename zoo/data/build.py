"""From parsed records to the one shape every benchmark has: a ``DatasetDict`` of train/validation/test.

Owns cleaning (upper case, ``U``->``T``, ambiguity codes -> ``N`` or the study's splice mapping, via
:func:`zoo.encoding.clean`), label inference (``ClassLabel`` names given, or the sorted distinct raw labels, numeric
labels sorted as numbers), the column schema (``sequence``, ``label``, ``id`` plus optional extras) and
:func:`from_files` for users' own data.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from zoo.data.formats import FormatError, Record, iter_records, read_labels_file
from zoo.data.splits import SPLITS, carve_validation, stratified_split
from zoo.errors import UserError

__all__ = ["Columns", "read_columns", "clean_sequences", "infer_label_names", "to_dataset", "to_dataset_dict",
           "from_files", "DEFAULT_SEED"]

#: The seed of the study's histone split, used for every fixed-seed split genozoo makes.
DEFAULT_SEED = 3264


class Columns(dict):
    """``{"id": [...], "sequence": [...], "label": [...]}`` of raw records (labels still raw text)."""

    def __len__(self) -> int:  # number of rows, not of keys
        return len(self["sequence"])

    def take(self, idx: Sequence[int] | np.ndarray) -> "Columns":
        idx = np.asarray(idx, dtype=np.int64)
        return Columns({k: [v[i] for i in idx.tolist()] for k, v in self.items()})

    def extend(self, other: "Columns") -> "Columns":
        for k in self:
            self[k].extend(other[k])
        return self


def read_columns(records: Iterable[Record], *, drop_n: bool = False, keep_length: int | None = None) -> Columns:
    """Collect records into columns; optionally drop sequences holding ``N`` or not of length ``keep_length``."""
    ids, seqs, labels = [], [], []
    for ident, seq, label in records:
        if keep_length is not None and len(seq) != keep_length:
            continue
        if drop_n and ("N" in seq or "n" in seq):
            continue
        ids.append(ident)
        seqs.append(seq)
        labels.append(label)
    return Columns(id=ids, sequence=seqs, label=labels)


def clean_sequences(seqs: list[str], ambiguity: str = "N", ids: Sequence[str] | None = None,
                    chunk: int = 100_000) -> list[str]:
    """Clean sequences in chunks (bounded memory): ``ambiguity`` is ``"N"``, ``"splice"`` or ``"keep"`` (raw)."""
    if ambiguity == "keep":
        return [s.upper() for s in seqs]
    from zoo.encoding import clean

    out: list[str] = []
    for i in range(0, len(seqs), chunk):
        part_ids = list(ids[i:i + chunk]) if ids is not None else None
        out.extend(clean(seqs[i:i + chunk], ambiguity=ambiguity, ids=part_ids))
    return out


def infer_label_names(labels: Iterable[Any]) -> list[str]:
    """Distinct raw labels as class names: numbers sorted numerically, text alphabetically; ``None`` ignored."""
    distinct = {str(v).strip() for v in labels if v is not None}
    if not distinct:
        raise UserError("no labels found in the data; pass label_column= (CSV/TSV) or a labels file (FASTA)")
    try:
        return [str(v) for v in sorted(distinct, key=lambda s: float(s))]
    except ValueError:
        return sorted(distinct)


def _label_indices(labels: Sequence[Any], names: Sequence[str], where: str) -> list[int]:
    index = {n: i for i, n in enumerate(names)}
    # Raw integer labels index named classes ("0"/"1" -> negative/positive) unless the names are numbers.
    by_position = not any(n.lstrip("-").isdigit() for n in names)
    out = []
    for v in labels:
        key = str(v).strip()
        if key not in index:
            if by_position and key.isdigit() and int(key) < len(names):
                out.append(int(key))
                continue
            raise UserError(f"label {key!r} in {where} is not one of the label names {', '.join(names)}; "
                            "pass the right label_names")
        out.append(index[key])
    return out


def _features(label_names: Sequence[str], extra: Mapping[str, Any] | None = None):
    import datasets

    feats = {"sequence": datasets.Value("string"), "label": datasets.ClassLabel(names=list(label_names)),
             "id": datasets.Value("string")}
    feats.update(extra or {})
    return datasets.Features(feats)


def to_dataset(cols: Columns, label_names: Sequence[str], *, where: str = "the data", extra_features=None):
    """One ``datasets.Dataset`` with ``sequence``/``label``/``id`` (+ extra columns already in ``cols``)."""
    import datasets

    data = {"sequence": cols["sequence"], "label": _label_indices(cols["label"], label_names, where),
            "id": [str(i) for i in cols["id"]]}
    for k, v in cols.items():
        if k not in data:
            data[k] = v
    feats = _features(label_names, {k: datasets.Value("string") for k in data if k not in ("sequence", "label", "id")}
                      if extra_features is None else extra_features)
    return datasets.Dataset.from_dict(data, features=feats)


def to_dataset_dict(splits: Mapping[str, Columns], label_names: Sequence[str], *, where: str = "the data"):
    """A ``DatasetDict`` with exactly train/validation/test from per-split columns."""
    import datasets

    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"splits {missing} missing")
    return datasets.DatasetDict({s: to_dataset(splits[s], label_names, where=f"{where} ({s})") for s in SPLITS})


def _load_one(path, *, format: str, labels: str | os.PathLike | None, label_last_char: bool,
              sequence_column: str | None, label_column: str | None, id_column: str | None) -> Columns:
    opts: dict[str, Any] = {}
    fmt = format
    if fmt == "auto":
        from zoo.data.formats import detect_format

        fmt = detect_format(path)
    if fmt == "fasta":
        opts = {"label_in_header": labels is None, "label_last_char": label_last_char}
    elif fmt in ("csv", "tsv"):
        opts = {"sequence_column": sequence_column, "label_column": label_column, "id_column": id_column}
    cols = read_columns(iter_records(path, fmt, **opts))
    if not len(cols):
        raise FormatError(f"{str(path)!r} holds no records in {fmt} format")
    if labels is not None:
        table = read_labels_file(labels)
        if isinstance(table, dict):
            missing = [i for i in cols["id"] if i not in table]
            if missing:
                raise FormatError(f"labels file {str(labels)!r} has no label for {len(missing)} record(s) of "
                                  f"{str(path)!r}, e.g. {missing[0]!r}")
            cols["label"] = [table[i] for i in cols["id"]]
        else:
            if len(table) != len(cols):
                raise FormatError(f"labels file {str(labels)!r} has {len(table)} labels but {str(path)!r} has "
                                  f"{len(cols)} records; give one label per record, in order")
            cols["label"] = list(table)
    if any(v is None for v in cols["label"]):
        raise FormatError(f"{str(path)!r}: some records have no label; for FASTA put it in the header "
                          "('>id label=1' or '>id|1') or pass labels=FILE; for CSV pass label_column=")
    return cols


def from_files(train: str | os.PathLike, validation: str | os.PathLike | None = None,
               test: str | os.PathLike | None = None, *, format: str = "auto",
               labels: str | os.PathLike | None = None, label_names: Sequence[str] | None = None,
               sequence_column: str | None = None, label_column: str | None = None, id_column: str | None = None,
               label_last_char: bool = False, ambiguity: str = "N", drop_n: bool = False,
               fractions: Sequence[float] = (0.7, 0.15, 0.15), validation_fraction: float = 0.1,
               seed: int = DEFAULT_SEED):
    """Load your own data (FASTA, CSV/TSV, UCI or Zeng format, gzipped or not) as train/validation/test.

    One file: a stratified split in ``fractions`` (seed ``seed``). ``train`` + ``test``: validation is carved from
    train (``validation_fraction``, stratified). ``labels`` is a labels file for a single FASTA ``train``
    (``ID LABEL`` lines, or one label per line in order). ``label_names`` fixes class order; otherwise they are
    the sorted distinct labels.
    """
    if labels is not None and (validation is not None or test is not None):
        raise UserError("a separate labels file works with a single FASTA file; put labels in the headers of "
                        "several files instead")
    read = dict(format=format, labels=labels, label_last_char=label_last_char, sequence_column=sequence_column,
                label_column=label_column, id_column=id_column)
    given = {"train": train, "validation": validation, "test": test}
    cols = {s: _load_one(p, **read) for s, p in given.items() if p is not None}
    for s, c in cols.items():
        keep = [i for i, q in enumerate(c["sequence"]) if not (drop_n and ("N" in q.upper()))]
        if len(keep) != len(c):
            cols[s] = c.take(keep)
        cols[s]["sequence"] = clean_sequences(cols[s]["sequence"], ambiguity, ids=cols[s]["id"])
    names = list(label_names) if label_names is not None else infer_label_names(
        v for c in cols.values() for v in c["label"])
    if set(cols) == {"train"}:
        y = _label_indices(cols["train"]["label"], names, str(train))
        parts = stratified_split(y, fractions, seed=seed)
        cols = {s: cols["train"].take(p) for s, p in zip(SPLITS, parts)}
    elif "validation" not in cols:
        y = _label_indices(cols["train"]["label"], names, str(train))
        tr, va = carve_validation(y, validation_fraction, seed=seed)
        cols["train"], cols["validation"] = cols["train"].take(tr), cols["train"].take(va)
    if "test" not in cols:
        raise UserError("pass a test file too when you pass a validation file (or pass only train and let "
                        "genozoo split it)")
    return to_dataset_dict(cols, names, where=str(Path(train).name))
