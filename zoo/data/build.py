"""From parsed records to the one shape every benchmark has: a ``DatasetDict`` of train/validation/test.

Owns cleaning (upper case, ``U``->``T``, ambiguity codes -> ``N`` or the study's splice mapping, via
:func:`zoo.encoding.clean`), label inference (``ClassLabel`` names given, or the sorted distinct raw labels, numeric
labels sorted as numbers), the column schema (``sequence``, ``label``, ``id`` plus optional extras) and
:func:`from_files` for users' own data.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from zoo.data.formats import LABEL_FORMS, FormatError, LabelsFile, Record, iter_records, read_labels_file
from zoo.data.splits import SPLITS, carve_validation, stratified_split
from zoo.errors import UserError

__all__ = ["Columns", "read_columns", "clean_sequences", "infer_label_names", "to_dataset", "to_dataset_dict",
           "from_files", "source_name", "describe_split", "Source", "DEFAULT_SEED"]

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
        raise UserError("no labels found in the data; name the label column (--label-column, label_column=) for "
                        "CSV/TSV, or pass a labels file (--labels) for FASTA")
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
                            "pass the right class names (--label-names, label_names=)")
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


#: What ``train=`` / ``validation=`` / ``test=`` of :func:`from_files` accept: a file, several files (read one after
#: another), or a mapping of class name to its file(s).
Source = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Mapping[str, Any]]


def _files_of(source: Source, role: str) -> list[tuple[str, str | None]]:
    """``[(file, class name or None), ...]`` of one split's source."""
    if isinstance(source, Mapping):
        out = []
        for name, files in source.items():
            files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
            if not files:
                raise UserError(f"class {name!r} of the {role} data names no file; map it to a file or a list of files")
            out += [(str(f), str(name)) for f in files]
        if not out:
            raise UserError(f"the {role} data maps no class to a file")
        return out
    files = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not files:
        raise UserError(f"the {role} data names no file")
    return [(str(f), None) for f in files]


def source_name(source: Source) -> str:
    """A short human name of a source, for cards and messages (``a.fa``, ``A=a.fa,B=b.fa``); a pipe keeps its
    whole path (``/dev/fd/63``, not ``63``)."""
    def name(f) -> str:
        p = Path(f)
        return str(f) if p.exists() and not p.is_file() and not p.is_dir() else p.name

    if isinstance(source, Mapping):
        return ",".join(f"{key}=" + "+".join(name(f) for f, _ in _files_of({key: files}, "data"))
                        for key, files in source.items())
    return "+".join(name(f) for f, _ in _files_of(source, "data"))


def _load_one(path, *, format: str, labels: LabelsFile | None, class_name: str | None, label_last_char: bool,
              sequence_column: str | None, label_column: str | None, id_column: str | None) -> Columns:
    opts: dict[str, Any] = {}
    fmt = format
    if fmt == "auto":
        from zoo.data.formats import detect_format

        fmt = detect_format(path)
    in_file = labels is None and class_name is None  # otherwise the labels come from elsewhere
    if fmt == "fasta":
        opts = {"label_in_header": in_file, "label_last_char": label_last_char and in_file}
    elif fmt in ("csv", "tsv"):
        opts = {"sequence_column": sequence_column, "label_column": label_column if in_file else None,
                "id_column": id_column}
    cols = read_columns(iter_records(path, fmt, **opts))
    if not len(cols):
        raise FormatError(f"{str(path)!r} holds no records in {fmt} format")
    if class_name is not None:
        cols["label"] = [class_name] * len(cols)
    elif labels is not None:
        if isinstance(labels.labels, dict):
            seen: set[str] = set()
            twice = next((i for i in cols["id"] if i in seen or seen.add(i)), None)
            if twice is not None:
                raise FormatError(f"{labels.describe()}, but record id {twice!r} appears more than once in "
                                  f"{str(path)!r}, so its label cannot tell those records apart; make the ids "
                                  f"unique, or give {LABEL_FORMS['one-per-line']}")
            missing = [i for i in cols["id"] if i not in labels.labels]
            if missing:
                raise FormatError(f"{labels.describe()}, but it has no label for {len(missing)} of the "
                                  f"{len(cols)} record id(s) of {str(path)!r}, e.g. {missing[0]!r}; give one "
                                  f"line per record id, or {LABEL_FORMS['one-per-line']}, or "
                                  f"{LABEL_FORMS['matrix']}")
            cols["label"] = [labels.labels[i] for i in cols["id"]]
        else:
            if len(labels.labels) != len(cols):
                raise FormatError(f"{labels.describe()} and holds {len(labels.labels)} labels, but {str(path)!r} "
                                  f"has {len(cols)} records; it needs one per record, in the same order")
            cols["label"] = list(labels.labels)
    if all(v is None for v in cols["label"]):
        raise FormatError(f"{str(path)!r}: the records have no labels; for FASTA put them in the headers "
                          "('>id label=1' or '>id|1') or pass a labels file (--labels); for CSV name the column "
                          "(--label-column); or give a file per class (--data A=a.fa --data B=b.fa)")
    blank = [i for i, v in enumerate(cols["label"]) if v is None or not str(v).strip()]
    if blank:
        first = cols["id"][blank[0]]
        raise FormatError(f"{str(path)!r}: {len(blank)} record(s) have no label, the first {first!r} (record "
                          f"{blank[0] + 1}); fill them in or remove those records")
    return cols


def _labels_files(labels, files: list[tuple[str, str | None]], label_names) -> list[LabelsFile | None]:
    """One parsed labels file (or None) per data file: ``labels`` holds one file per data file, in order."""
    if labels is None:
        return [None] * len(files)
    given = [labels] if isinstance(labels, (str, os.PathLike)) else list(labels)
    if any(c is not None for _, c in files):
        raise UserError("the class-to-file mapping already gives every record its label; drop labels=")
    if len(given) != len(files):
        raise UserError(f"labels= names {len(given)} labels file(s) for {len(files)} data file(s) "
                        f"({', '.join(Path(f).name for f, _ in files)}); give one labels file per data file, in "
                        "the order train, validation, test")
    return [read_labels_file(p, label_names) for p in given]


def describe_split(given: Sequence[str], fractions: Sequence[float] = (0.7, 0.15, 0.15),
                   validation_fraction: float = 0.1, seed: int = DEFAULT_SEED) -> str:
    """How :func:`from_files` made train/validation/test from the splits that were ``given``."""
    if set(given) == {"train"}:
        pct = "/".join(f"{f * 100:g}" for f in fractions)
        return f"stratified {pct} train/validation/test split of the given data, seed {seed}"
    if "validation" not in given:
        return (f"test as given; validation carved from train ({validation_fraction:.0%}, stratified, "
                f"seed {seed})")
    return "train, validation and test as given"


def from_files(train: Source, validation: Source | None = None, test: Source | None = None, *,
               format: str = "auto", labels: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
               label_names: Sequence[str] | None = None, sequence_column: str | None = None,
               label_column: str | None = None, id_column: str | None = None, label_last_char: bool = False,
               ambiguity: str = "N", drop_n: bool = False, fractions: Sequence[float] = (0.7, 0.15, 0.15),
               validation_fraction: float = 0.1, seed: int = DEFAULT_SEED):
    """Load your own data (FASTA, CSV/TSV, UCI or Zeng format, gzipped or not) as train/validation/test.

    Each of ``train``, ``validation`` and ``test`` is a file, a list of files (read one after the other), or a
    mapping of class name to file(s) (``{"A": "a.fa", "B": ["b1.fa", "b2.fa.gz"]}``: every record of a class's
    files has that label). Only ``train``: a stratified split in ``fractions`` (seed ``seed``). ``train`` +
    ``test``: validation is carved from train (``validation_fraction``, stratified). Labels come from the class
    mapping, from the files themselves (FASTA headers, a CSV column), or from ``labels``: one labels file per data
    file, in the order train, validation, test, each one label per line, ``ID LABEL`` lines, or a 0/1 matrix with
    one column per class (:func:`zoo.data.formats.read_labels_file`). ``label_names`` fixes the class order and
    names a matrix's columns; otherwise the order is the mapping's, a matrix header's (else ``0..k-1``), or the
    sorted distinct labels.
    """
    given = {s: v for s, v in (("train", train), ("validation", validation), ("test", test)) if v is not None}
    if "validation" in given and "test" not in given:
        raise UserError("pass a test file too when you pass a validation file (or pass only train and let "
                        "genozoo split it)")
    files = {s: _files_of(v, s) for s, v in given.items()}
    files, spooled = _spool_pipes(files)
    try:
        flat = [f for s in given for f in files[s]]
        tables = iter(_labels_files(labels, flat, label_names))
        read = dict(format=format, label_last_char=label_last_char, sequence_column=sequence_column,
                    label_column=label_column, id_column=id_column)
        cols: dict[str, Columns] = {}
        matrix_columns: list[list[str] | None] = []
        for split in given:
            for path, class_name in files[split]:
                table = next(tables)
                if table is not None and table.form == "matrix":
                    matrix_columns.append(table.columns or [str(j) for j in range(table.width)])
                part = _load_one(path, labels=table, class_name=class_name, **read)
                cols[split] = part if split not in cols else cols[split].extend(part)
        for s, c in cols.items():
            keep = [i for i, q in enumerate(c["sequence"]) if not (drop_n and ("N" in q.upper()))]
            if len(keep) != len(c):
                cols[s] = c.take(keep)
            cols[s]["sequence"] = clean_sequences(cols[s]["sequence"], ambiguity, ids=cols[s]["id"])
            blank = next((i for i, q in enumerate(cols[s]["sequence"]) if not q), None)
            if blank is not None:  # a header with no sequence would train on padding alone
                raise UserError(f"sequence {cols[s]['id'][blank]!r} in {source_name(given[s])} has no bases; remove "
                                f"the record or give it its sequence")
        names = _class_names(label_names, matrix_columns, given, cols)
        where = source_name(train)
        if set(cols) == {"train"}:
            y = _label_indices(cols["train"]["label"], names, where)
            parts = stratified_split(y, fractions, seed=seed)
            cols = {s: cols["train"].take(p) for s, p in zip(SPLITS, parts)}
        elif "validation" not in cols:
            y = _label_indices(cols["train"]["label"], names, where)
            tr, va = carve_validation(y, validation_fraction, seed=seed)
            cols["train"], cols["validation"] = cols["train"].take(tr), cols["train"].take(va)
        empty = [s for s in SPLITS if s in cols and not len(cols[s])]
        if empty:
            total = sum(len(c) for c in cols.values())
            raise UserError(f"{where} holds {total} sequence(s), too few to split into train, validation and "
                            f"test: the {' and '.join(empty)} split would be empty; give more sequences, or pass the "
                            "validation and test files yourself (--validation, --test)")
        dd = to_dataset_dict(cols, names, where=where)
        split_text = describe_split(list(given), fractions, validation_fraction, seed)
        for split, ds in dd.items():
            ds.info.description = f"{where} ({split} split). Split: {split_text}."
        return dd
    except UserError as err:  # name a pipe as the user gave it, not by its temporary copy
        message = str(err)
        for copy, original in spooled:
            message = message.replace(str(copy), original)
        if message == str(err):
            raise
        raise type(err)(message) from None
    finally:
        for copy, _ in spooled:
            shutil.rmtree(copy.parent, ignore_errors=True)


def _spool_pipes(files: dict[str, list[tuple[str, str | None]]]):
    """``files`` with every pipe or device (``<(zcat a.fa.gz)``, ``/dev/stdin``) copied once into a temporary file,
    as ``genozoo predict`` reads them (the format guess and the parser each read a file from its start), and the
    ``(copy, original)`` pairs to remove afterwards."""
    from zoo.io import _spool

    spooled: list[tuple[Path, str]] = []
    out: dict[str, list[tuple[str, str | None]]] = {}
    try:
        for split, entries in files.items():
            out[split] = []
            for path, class_name in entries:
                p = Path(path)
                if p.exists() and not p.is_file() and not p.is_dir():
                    spooled.append((_spool(path, p.name), path))
                    path = str(spooled[-1][0])
                out[split].append((path, class_name))
    except BaseException:
        for copy, _ in spooled:
            shutil.rmtree(copy.parent, ignore_errors=True)
        raise
    return out, spooled


def _class_names(label_names, matrix_columns, given, cols) -> list[str]:
    if label_names is not None:
        return [str(n) for n in label_names]
    if matrix_columns:
        if any(c != matrix_columns[0] for c in matrix_columns):
            raise UserError("the labels files are 0/1 matrices with different columns "
                            f"({' vs '.join(','.join(c) for c in matrix_columns)}); give the class names "
                            "(--label-names, label_names=)")
        return list(matrix_columns[0])
    if isinstance(given["train"], Mapping):
        names = [str(k) for k in given["train"]]  # the mapping's order is the class order
        extra = sorted({str(k) for v in given.values() if isinstance(v, Mapping) for k in v} - set(names))
        if extra:
            raise UserError(f"class(es) {', '.join(extra)} appear in the validation/test files but not in the "
                            f"training files ({', '.join(names)}); map every class in train=")
        return names
    names = infer_label_names(v for c in cols.values() for v in c["label"])
    trained = {str(v).strip() for v in cols["train"]["label"]}
    for split in ("validation", "test"):
        unseen = sorted({str(v).strip() for v in cols[split]["label"]} - trained) if split in cols else []
        if unseen:
            raise UserError(f"the {split} data has label(s) {', '.join(unseen[:5])}, which the training data "
                            f"(labels {', '.join(sorted(trained)[:10])}) does not have; a model cannot learn a "
                            "class it never sees")
    return names
