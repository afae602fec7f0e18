"""Encoding on the fly for training: rows or files in, the tensors a model's :class:`~zoo.encoding.Encoding` asks for out.

Three ways in, all ending in :func:`zoo.encoding.encode` (vectorized over a batch):

* :func:`encode_collate` -> a ``collate_fn`` for ``torch.utils.data.DataLoader`` over a ``datasets.Dataset`` (or
  any sequence of ``{"sequence", "label"}`` rows): a list of rows becomes ``(x, y)``.
* :func:`iter_encoded_batches` -> ``(x, y)`` batches straight from a ``datasets.Dataset`` by column slices, which
  skips building one Python dict per row (several times faster than a DataLoader over rows).
* :class:`StreamingEncodedDataset` -> a ``torch.utils.data.IterableDataset`` reading files record by record, for data
  larger than memory: memory is bounded by ``batch_size`` (and ``shuffle_buffer``), not by the file size.

Labels become ``int64`` class indices; rows without a label give ``-1``.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from zoo.encoding import Encoding, encode
from zoo.errors import UserError

__all__ = ["encode_collate", "iter_encoded_batches", "StreamingEncodedDataset", "label_mapper"]


def _as_encoding(encoding: Encoding | Mapping[str, Any] | None) -> Encoding:
    if encoding is None:
        return Encoding()
    return encoding if isinstance(encoding, Encoding) else Encoding.from_dict(dict(encoding))


def _labels_tensor(labels: Sequence[Any]):
    import torch

    return torch.as_tensor(np.asarray([-1 if v is None else v for v in labels], dtype=np.int64))


def encode_collate(encoding: Encoding | Mapping[str, Any] | None = None, *, sequence_column: str = "sequence",
                   label_column: str = "label") -> Callable[[Any], tuple]:
    """A ``collate_fn`` turning dataset rows into ``(x, y)``: ``x`` encoded per ``encoding``, ``y`` int64 labels.

    Accepts a list of row dicts (what a DataLoader over a ``datasets.Dataset`` hands over) or one dict of columns
    (what ``dataset[list_of_indices]`` returns, e.g. with a batch sampler).
    """
    enc = _as_encoding(encoding)

    def collate(batch):
        if isinstance(batch, Mapping):
            seqs, labels = list(batch[sequence_column]), list(batch.get(label_column, [None] * len(batch[sequence_column])))
            ids = batch.get("id")
        else:
            seqs = [row[sequence_column] for row in batch]
            labels = [row.get(label_column) for row in batch]
            ids = [row["id"] for row in batch] if batch and "id" in batch[0] else None
        x = encode(seqs, enc, ids=list(ids) if ids is not None else None)
        return x, _labels_tensor(labels)

    return collate


def iter_encoded_batches(dataset, encoding: Encoding | Mapping[str, Any] | None = None, *, batch_size: int = 256,
                         shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                         sequence_column: str = "sequence", label_column: str = "label") -> Iterator[tuple]:
    """``(x, y)`` batches of a ``datasets.Dataset`` read by column slices (shuffled per ``seed`` if asked)."""
    enc = _as_encoding(encoding)
    n = len(dataset)
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    has_label = label_column in dataset.column_names
    columns = [sequence_column] + ([label_column] if has_label else [])
    view = dataset.select_columns(columns) if hasattr(dataset, "select_columns") else dataset
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if drop_last and stop - start < batch_size:
            break
        rows = view[start:stop] if order is None else view[order[start:stop].tolist()]
        seqs = list(rows[sequence_column])
        labels = list(rows[label_column]) if has_label else [None] * len(seqs)
        yield encode(seqs, enc), _labels_tensor(labels)


def label_mapper(label_names: Sequence[str] | None) -> Callable[[Any], int]:
    """Map a raw label (name, or integer text) to its class index; unknown labels raise :class:`UserError`."""
    index = {str(name): i for i, name in enumerate(label_names)} if label_names is not None else None

    def to_index(raw: Any) -> int:
        if raw is None:
            return -1
        key = str(raw).strip()
        if index is not None:
            if key in index:
                return index[key]
            if key.lstrip("-").isdigit() and 0 <= int(key) < len(index):
                return int(key)
            raise UserError(f"label {key!r} is not one of the label names {', '.join(index)}; "
                            "pass the right class names (--label-names, label_names=)")
        try:
            return int(key)
        except ValueError:
            raise UserError(f"label {key!r} is not an integer; pass the class names (--label-names, "
                            "label_names=[...]) to map label text to classes") from None

    return to_index


class _IterableBase:
    pass


try:  # torch is a hard dependency, but keep this module importable for pure-numpy users of the parsers
    from torch.utils.data import IterableDataset as _IterableBase  # type: ignore[assignment]  # noqa: F811
except ImportError:  # pragma: no cover
    pass


class StreamingEncodedDataset(_IterableBase):
    """Encoded ``(x, y)`` batches streamed from one or more files (any :mod:`zoo.data.formats` format).

    Use with ``DataLoader(ds, batch_size=None)``; with ``num_workers > 1`` the batches are dealt round-robin to the
    workers so each batch is read once. ``shuffle_buffer`` > 0 shuffles within a sliding buffer of that many
    records (seeded), so memory stays bounded. ``limit`` stops after that many records.
    """

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike],
                 encoding: Encoding | Mapping[str, Any] | None = None, *, batch_size: int = 256,
                 format: str = "auto", label_names: Sequence[str] | None = None, shuffle_buffer: int = 0,
                 seed: int = 0, limit: int | None = None, drop_n: bool = False, **format_options) -> None:
        super().__init__()
        self.paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not self.paths:
            raise UserError("pass at least one file to stream")
        self.encoding = _as_encoding(encoding)
        self.batch_size = int(batch_size)
        self.format = format
        self.label_names = list(label_names) if label_names is not None else None
        self.shuffle_buffer = int(shuffle_buffer)
        self.seed = seed
        self.limit = limit
        self.drop_n = drop_n
        self.format_options = format_options
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Reseed the shuffle buffer for a new epoch."""
        self.epoch = epoch

    def _records(self) -> Iterator[tuple[str, str, Any]]:
        from zoo.data.formats import iter_records

        n = 0
        for path in self.paths:
            for rec in iter_records(path, self.format, **self.format_options):
                if self.drop_n and "N" in rec[1].upper():
                    continue
                if self.limit is not None and n >= self.limit:
                    return
                n += 1
                yield rec

    def _shuffled(self, records: Iterator) -> Iterator:
        rng = np.random.default_rng((self.seed, self.epoch))
        buf: list = []
        for rec in records:
            if len(buf) < self.shuffle_buffer:
                buf.append(rec)
                continue
            j = int(rng.integers(len(buf)))
            buf[j], rec = rec, buf[j]
            yield rec
        rng.shuffle(buf)
        yield from buf

    def batches(self) -> Iterator[tuple[list[str], list[str], list[int]]]:
        """Raw ``(ids, sequences, label indices)`` batches before encoding."""
        to_index = label_mapper(self.label_names)
        records = self._records()
        if self.shuffle_buffer > 0:
            records = self._shuffled(records)
        ids: list[str] = []
        seqs: list[str] = []
        labels: list[int] = []
        for ident, seq, label in records:
            ids.append(ident)
            seqs.append(seq)
            labels.append(to_index(label))
            if len(seqs) == self.batch_size:
                yield ids, seqs, labels
                ids, seqs, labels = [], [], []
        if seqs:
            yield ids, seqs, labels

    def __iter__(self):
        import torch

        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for b, (ids, seqs, labels) in enumerate(self.batches()):
            if b % workers != worker:
                continue
            yield encode(seqs, self.encoding, ids=ids), torch.as_tensor(np.asarray(labels, dtype=np.int64))
