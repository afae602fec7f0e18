"""Predict with a baseline: class probabilities with label names for raw DNA sequences, in Python and as a stream.

This module owns prediction: :func:`predict` (what ``model.predict(sequences)`` calls) returns a
:class:`Predictions` table; :func:`predict_records` streams any iterable of ``(id, sequence)`` records in batches
(memory bounded by the batch size, not the input size); :func:`predict_file` reads a FASTA / FASTA.gz / CSV / TSV
file or standard input (:mod:`zoo.io`) and writes a CSV (``id``, one ``prob_<label>`` column per class,
``predicted``, ``flag``) atomically; :func:`load_model` turns a model folder, Hub repo id or published
``arch.tag`` name into a model. The Python function and the command line share :func:`predict_records`, so they
give identical numbers.

Sequences are cleaned, padded or cropped exactly as the model's :class:`~zoo.encoding.Encoding` declares
(``length``, ``pad_mode``); how many were padded or cropped is counted and reported as a warning. A prediction
that carries no information (a sequence with no A, C, G or T) or little (mostly padding or N) is flagged per row
(:func:`input_flags`, the ``flag`` column; the space uses the same definition) and counted in a warning, since a
model answers such input as confidently as any other. A sequence more than :data:`MAX_LENGTH_FACTOR` times longer
than the model's input is refused rather than silently cut to a small fraction of itself. Reverse-complement
averaging scores each sequence and its reverse complement (each encoded from the raw sequence with the same
pad/crop policy, in two same-shaped forward passes) and averages the two probability vectors, so
``predict(s) == predict(rc(s))`` holds exactly.
"""
from __future__ import annotations

import contextlib
import csv
import math
import operator
import os
import re
import sys
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from zoo import runtime
from zoo.encoding import EncodingError, reverse_complement, to_codes
from zoo.errors import UserError
from zoo.io import batched, checked_strings, is_existing_path, open_input, sequence_list
from zoo.models.base import ZooModel, preferred_memory_format
from zoo.outputs import atomic_output
from zoo.runtime import check_device  # noqa: F401 (also zoo.predict's, as before)

__all__ = ["MAX_LENGTH_FACTOR", "NO_BASES", "MOSTLY_PADDING", "UnreliableInput", "Predictions", "LengthStats", "PredictSummary",
           "load_model", "resolve_device", "check_device", "base_counts", "flags_from_counts", "input_flags",
           "length_stats", "predict", "predict_records", "predict_file"]

#: Sequences longer than this many times the model's input length are refused (cropping would discard >90%).
MAX_LENGTH_FACTOR = 10
DEFAULT_BATCH_SIZE = 256
#: The values of the ``flag`` column (:func:`input_flags`): why a prediction carries no or little information.
NO_BASES, MOSTLY_PADDING = "no_bases", "mostly_padding"


class UnreliableInput(UserWarning):
    """Some predictions (or the explanations of them) carry no or little information (:func:`input_flags`)."""

_IS_BASE = np.zeros(256, dtype=np.int64)
_IS_BASE[np.frombuffer(b"ACGTUacgtu", dtype=np.uint8)] = 1


# ------------------------------------------------------------------------------------ uninformative input
def base_counts(sequences: Sequence[str]) -> np.ndarray:
    """How many letters of each sequence are bases (A, C, G, T or U, either case); ambiguity codes such as N are
    not, whatever a model's encoding maps them to."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    raw = np.frombuffer("".join(sequences).encode("ascii", errors="replace"), dtype=np.uint8)  # 1 byte a letter
    seen = np.concatenate([[0], np.cumsum(_IS_BASE[raw])])
    ends = np.cumsum(lengths)
    return seen[ends] - seen[ends - lengths]


def flags_from_counts(counts: Sequence[int] | np.ndarray, model_length: int | None) -> list[str]:
    """:func:`input_flags` of sequences holding ``counts`` bases."""
    counts = np.asarray(counts, dtype=np.int64)
    flags = np.full(len(counts), "", dtype=object)
    if model_length is not None:
        flags[counts * 2 < model_length] = MOSTLY_PADDING
    flags[counts == 0] = NO_BASES
    return flags.tolist()


def input_flags(sequences: Sequence[str], model_length: int | None) -> list[str]:
    """Why the prediction of each sequence carries no or little information, the one definition ``genozoo
    predict``'s ``flag`` column, ``model.predict`` and the space share: :data:`NO_BASES` when the sequence holds no
    A, C, G or T at all (all N, say: the model sees nothing of it, so its answer says nothing about it, however
    confident); :data:`MOSTLY_PADDING` when fewer than half of the model's ``model_length`` input positions get a
    base (a sequence shorter than half the input, or mostly N): its answer is unreliable; ``""`` otherwise."""
    return flags_from_counts(base_counts(sequences), model_length)


# --------------------------------------------------------------------------------------------- results
@dataclass
class Predictions:
    """Class probabilities of a set of sequences: ``probabilities[i, c]`` for sequence ``ids[i]`` and class
    ``label_names[c]`` (float32, rows sum to 1). ``to_columns()`` / ``to_records()`` give plain Python tables."""

    ids: list[str]
    probabilities: np.ndarray
    label_names: list[str]
    lengths: "LengthStats" = field(default_factory=lambda: LengthStats())
    flags: list[str] | None = None  # per sequence: "", no_bases or mostly_padding (input_flags)

    def __post_init__(self) -> None:
        if self.flags is None:
            self.flags = [""] * len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def predicted_index(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def predicted(self) -> list[str]:
        """The predicted label name of each sequence (the most probable class)."""
        names = np.asarray(self.label_names, dtype=object)
        return names[self.predicted_index].tolist()

    def columns(self) -> list[str]:
        return ["id", *(f"prob_{name}" for name in self.label_names), "predicted", "flag"]

    def to_columns(self) -> dict[str, list]:
        """``{"id": [...], "prob_<label>": [...], ..., "predicted": [...], "flag": [...]}``; ``flag`` is empty, or
        says why a row's prediction carries no or little information (:func:`input_flags`)."""
        out: dict[str, list] = {"id": list(self.ids)}
        for c, name in enumerate(self.label_names):
            out[f"prob_{name}"] = self.probabilities[:, c].tolist()
        out["predicted"] = self.predicted
        out["flag"] = list(self.flags)
        return out

    def to_records(self) -> list[dict]:
        """One dict per sequence with the same keys as :meth:`to_columns`."""
        cols = self.to_columns()
        return [dict(zip(cols, row)) for row in zip(*cols.values())]

    def __repr__(self) -> str:
        head = self.to_records()[:5]
        lines = [f"Predictions({len(self)} sequences, labels {self.label_names})"]
        lines += ["  " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())
                  for r in head]
        if len(self) > len(head):
            lines.append("  ...")
        return "\n".join(lines)


@dataclass
class LengthStats:
    """How many sequences were padded (shorter than the model's length) or cropped (longer), and how many of their
    predictions carry no or little information (:func:`input_flags`), of how many."""

    length: int | None = None
    pad_mode: str = "right"
    padded: int = 0
    cropped: int = 0
    sequences: int = 0
    no_bases: int = 0
    mostly_padding: int = 0

    def add(self, other: "LengthStats") -> None:
        for key in ("padded", "cropped", "sequences", "no_bases", "mostly_padding"):
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def unreliable_message(self) -> str | None:
        """One sentence on the predictions that carry no or little information, or ``None``."""
        def of(n: int) -> str:
            return f"{n:,} of {self.sequences:,} sequence{'' if self.sequences == 1 else 's'}"

        parts = []
        if self.no_bases:
            parts.append(f"{of(self.no_bases)} hold no A, C, G or T: their predictions carry no information"
                         if self.no_bases > 1 else
                         f"{of(1)} holds no A, C, G or T: its prediction carries no information")
        if self.mostly_padding:
            what = f"mostly padding or N (bases in fewer than half of the model's {self.length} bp input)"
            parts.append(f"{of(self.mostly_padding)} are {what}: their predictions are unreliable"
                         if self.mostly_padding > 1 else f"{of(1)} is {what}: its prediction is unreliable")
        return "; ".join(parts) or None

    def message(self) -> str | None:
        if not (self.padded or self.cropped):
            return None
        where = "at the right end" if self.pad_mode == "right" else "evenly at both ends"
        parts = [f"{self.padded} sequence(s) shorter than the model's {self.length} bp were padded"] if self.padded \
            else []
        if self.cropped:
            parts.append(f"{self.cropped}{'' if parts else ' sequence(s)'} longer than {self.length} bp were cropped")
        return f"{' and '.join(parts)} ({where}), as the model's encoding declares"


@dataclass
class PredictSummary:
    """What :func:`predict_file` did: rows written, length handling, time taken."""

    output: str
    sequences: int
    lengths: LengthStats
    seconds: float
    device: str

    @property
    def sequences_per_second(self) -> float:
        return self.sequences / self.seconds if self.seconds > 0 else math.inf


# ---------------------------------------------------------------------------------------------- models
def load_model(spec: str | os.PathLike, revision: str | None = None, *, allow_modified: bool = False):
    """A model from a local model folder, a run folder of ``genozoo train`` (:func:`zoo.recipes.load_run_model`),
    a Hub repo id (``org/arch.tag``) or a published ``arch.tag`` name.

    A folder's or repo's weights must match the sha256 its config.json records (and its published record's);
    ``allow_modified`` loads a mismatch anyway, with a warning (see :func:`zoo.hub.load_model`)."""
    text = str(spec)
    path = Path(text)
    exists = is_existing_path(text)  # False (not an OSError) for a name too long to be a path
    if exists and (path / "recipe.yaml").is_file():  # the training layer is imported for a run folder only
        from zoo.recipes import is_run_folder, load_run_model

        if is_run_folder(path):
            return load_run_model(path, allow_modified=allow_modified)[0].eval()
    from zoo.hub.resolve import load_named

    return load_named(text, revision, allow_modified=allow_modified)


def resolve_device(device: str | torch.device | None, model: torch.nn.Module | None = None) -> torch.device:
    """``None``: where the model already is; ``"auto"``: CUDA when present, else CPU; or an explicit device, which
    must be present (:func:`check_device`)."""
    if device is None:
        param = next(iter(model.parameters()), None) if model is not None else None
        return param.device if param is not None else torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    # Not zoo.engine.resolve_device: importing the engine pulls in scikit-learn, seconds of start-up for nothing.
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device(device)
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise UserError(f"device {device!r} is not understood; use auto, cpu, cuda or cuda:N") from e


@contextlib.contextmanager
def _inference(model: torch.nn.Module, device: torch.device):
    """Eval mode on ``device`` in the model's preferred memory layout for the duration; the model's mode, device
    and (contiguous) layout are restored afterwards."""
    was_training = model.training
    before = resolve_device(None, model)
    model.to(device, memory_format=preferred_memory_format(model, device)).eval()
    try:
        yield
    finally:
        model.to(before, memory_format=torch.contiguous_format).train(was_training)


def _check_classifier(model) -> None:
    if not getattr(model, "is_classifier", True):
        raise UserError(f"{type(model).__name__} is not a classifier (its output is not class logits), so it "
                        "cannot predict labels; build a classifier on top of it first")


# ------------------------------------------------------------------------------------------- prediction
def whole_number(value, name: str, flag: str, default: int | None = None) -> int | None:
    """``value`` as an int of at least 1 (``None``: ``default``); anything else (0, 1.5, "8", True) is one sentence
    naming the option in both spellings, ``name`` (Python) and ``flag`` (command line)."""
    if value is None:
        return default
    try:
        n = None if isinstance(value, bool) else operator.index(value)  # int and numpy integers, not 1.5 or "8"
    except TypeError:
        n = None
    if n is None or n < 1:
        unit = " bp" if name == "max_length" else ""
        raise UserError(f"{name} ({flag}) must be at least 1{unit} and a whole number"
                        f"{'' if default is None else f' (or None for the default, {default})'}, not {value!r}")
    return n


def _max_length(model, max_length: int | None) -> int | None:
    if max_length is not None:
        return whole_number(max_length, "max_length", "--max-length")
    L = model.encoding.length
    return None if L is None else MAX_LENGTH_FACTOR * L


def length_stats(model, ids: Sequence[str], seqs: Sequence[str], max_length: int | None = None) -> LengthStats:
    """How ``seqs`` fit ``model``'s input (how many are padded, cropped), after refusing what prediction refuses:
    an empty sequence, or one longer than ``max_length`` (default: :data:`MAX_LENGTH_FACTOR` x the input). Every
    caller that predicts (the CLI, ``model.predict``, explain, the space) refuses the same sequences alike."""
    return _length_stats(ids, seqs, model, _max_length(model, max_length))


def _length_stats(ids: Sequence[str], seqs: Sequence[str], model, limit: int | None,
                  flags: Sequence[str] | None = None) -> LengthStats:
    enc = model.encoding
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    stats = LengthStats(enc.length, enc.pad_mode)
    if (lengths == 0).any():
        i = int(np.flatnonzero(lengths == 0)[0])
        raise UserError(f"sequence {ids[i]!r} is empty; remove it or give it its bases")
    if limit is not None and (lengths > limit).any():
        i = int(np.flatnonzero(lengths > limit)[0])
        if enc.length is not None and limit >= enc.length:
            raise UserError(
                f"sequence {ids[i]!r} is {lengths[i]:,} bp long, far longer than this model's {enc.length} bp input "
                f"(the limit is {limit:,} bp); cut it into windows of {enc.length} bp and predict those")
        raise UserError(f"sequence {ids[i]!r} is {lengths[i]:,} bp long, longer than the {limit:,} bp asked for "
                        "(--max-length, max_length)")
    if enc.length is not None:
        stats.padded = int((lengths < enc.length).sum())
        stats.cropped = int((lengths > enc.length).sum())
    flags = input_flags(seqs, enc.length) if flags is None else flags
    stats.sequences, stats.no_bases, stats.mostly_padding = len(seqs), flags.count(NO_BASES), \
        flags.count(MOSTLY_PADDING)
    return stats


def _forward_probs(model, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return model.probabilities(model.inference_forward(x.to(device))).float()


@dataclass
class _Prepared:
    """One batch cleaned and encoded (in the reading thread), waiting for its forward pass."""

    ids: list[str]
    stats: LengthStats
    flags: list[str]
    x: torch.Tensor
    x_rc: torch.Tensor | None


def _prepare(model, batch: Sequence[tuple[str, str]], rc: bool, limit: int | None) -> _Prepared:
    enc = model.encoding
    ids = [str(r[0]) for r in batch]
    seqs = [r[1] for r in batch]
    try:
        flags = input_flags(seqs, enc.length)
    except TypeError:  # an entry that is no str (found here at no cost to the fast path): decode bytes, or refuse
        seqs = checked_strings(seqs, ids)
        flags = input_flags(seqs, enc.length)
    stats = _length_stats(ids, seqs, model, limit, flags)
    try:
        codes = to_codes(seqs, enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity, ids=ids)
    except EncodingError as e:
        # The index in the message counts within this batch; the id alone names the record unambiguously.
        raise EncodingError(re.sub(r"^sequence \d+ \((.*?)\) ", r"sequence \1 ", str(e))) from None
    x_rc = None
    if rc:
        # The reverse strand is built from the raw sequence (then padded/cropped like the forward one) and run as
        # its own batch of the same shape: predicting rc(s) then evaluates exactly the same two tensors, swapped.
        rc_codes = to_codes(reverse_complement(seqs, ambiguity=enc.ambiguity), enc.length,
                            pad_mode=enc.pad_mode, ambiguity=enc.ambiguity)
        x_rc = model.fast_input(rc_codes)
    return _Prepared(ids, stats, flags, model.fast_input(codes), x_rc)


def _forward(model, batch: _Prepared, device: torch.device) -> Predictions:
    with torch.inference_mode():  # per call and per thread: the mode must not leak to the consumer
        probs = _forward_probs(model, batch.x, device)
        if batch.x_rc is not None:
            probs = (probs + _forward_probs(model, batch.x_rc, device)) / 2
    return Predictions(batch.ids, probs.cpu().numpy(), list(model.label_names), batch.stats, batch.flags)


def _workers(threads: int | None, device: torch.device) -> int:
    """Forward passes run at once: one per CPU thread (each single-threaded, with no synchronization inside an
    operation, which small models' operations cannot amortize), one on an accelerator."""
    if threads is not None and threads != 0:
        threads = runtime.resolve_threads(threads)  # a negative or non-numeric count is one sentence
    if device.type != "cpu":
        return 1
    return max(1, threads or runtime.configured_threads() or torch.get_num_threads())


def _pipelined(model, batches: Iterable[list], workers: int, device: torch.device, rc: bool,
               limit: int | None) -> Iterator[Predictions]:
    """Batches read and encoded in this thread while ``workers`` threads run forward passes (torch releases the
    GIL); results come back in input order, at most ``2 * workers`` batches ahead (bounded memory). An input
    error is raised after the batches before it have been yielded, as in a sequential run."""
    pending: deque = deque()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="genozoo-predict")
    try:
        try:
            for batch in batches:
                pending.append(pool.submit(_forward, model, _prepare(model, batch, rc, limit), device))
                if len(pending) > 2 * workers:
                    yield pending.popleft().result()
        except Exception:  # an input error: what was read before it is still delivered first
            while pending:
                yield pending.popleft().result()
            raise
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(before)


def predict_records(model, records: Iterable[tuple[str, str]], *, batch_size: int = DEFAULT_BATCH_SIZE,
                    reverse_complement: bool = False, device: str | torch.device | None = None,
                    max_length: int | None = None, progress: bool = False, total: int | None = None,
                    threads: int | None = None) -> Iterator[Predictions]:
    """Stream ``(id, sequence)`` records through ``model`` in batches; yields one :class:`Predictions` per batch
    (each carries its own :class:`LengthStats`). Memory is bounded by ``batch_size``.

    ``threads``: CPU threads to use (default: what :func:`zoo.runtime.configure_threads` set, else torch's). With
    two or more, batches are read and encoded while that many forward passes run at once, one per thread.
    """
    from tqdm.auto import tqdm

    _check_classifier(model)
    batch_size = whole_number(batch_size, "batch_size", "--batch-size", DEFAULT_BATCH_SIZE)
    runtime.apply_env_threads()
    dev = resolve_device(device, model)
    limit = _max_length(model, max_length)
    workers = _workers(threads, dev)
    bar = tqdm(total=total, unit="seq", unit_scale=True, desc="predict", disable=not progress,
               dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
    batches = batched(records, batch_size)
    try:
        # Freed memory is kept: every batch allocates the same large activations again (1.3-1.6x faster).
        with _inference(model, dev), runtime.keep_freed_memory():
            if workers > 1:
                stream = _pipelined(model, batches, workers, dev, reverse_complement, limit)
            else:
                stream = (_forward(model, _prepare(model, b, reverse_complement, limit), dev) for b in batches)
            for part in stream:
                bar.update(len(part))
                yield part
    finally:
        bar.close()


def predict(model, sequences: str | bytes | Sequence[str] | Mapping[str, str], *, ids: Sequence[str] | None = None,
            batch_size: int | None = DEFAULT_BATCH_SIZE, reverse_complement: bool = False,
            device: str | torch.device | None = None, max_length: int | None = None,
            progress: bool = False, threads: int | None = None) -> Predictions:
    """Class probabilities with label names for raw sequences (``model.predict(sequences)`` calls this).

    ``reverse_complement=True`` averages the probabilities of each sequence and its reverse complement.
    ``device``: ``None`` keeps the model where it is, ``"auto"`` takes CUDA when present. Sequences of another
    length than the model's are padded/cropped by its encoding (a warning says how many); a warning also counts
    the sequences whose prediction carries no or little information (``Predictions.flags``, :func:`input_flags`).

    ``sequences``: a DNA string (``bytes`` are read as ASCII), a list (or tuple, 1-D array, iterator) of them, a
    ``{id: sequence}`` dict, or a pandas Series, whose index gives the ids unless ``ids`` is given (so the
    predictions join back to the table); a set (no order), ``None``, NaN or another non-string entry is refused
    with one sentence naming it (:func:`zoo.io.sequence_list`). ``ids`` default to ``seq1``, ``seq2``, ...
    ``batch_size``: ``None`` is the default (256).
    """
    names, seqs = sequence_list(sequences, ids, verb="predict")
    parts = list(predict_records(model, zip(names, seqs), batch_size=batch_size,
                                 reverse_complement=reverse_complement, device=device, max_length=max_length,
                                 progress=progress, total=len(seqs), threads=threads))
    stats = LengthStats(model.encoding.length, model.encoding.pad_mode)
    for p in parts:
        stats.add(p.lengths)
    if (msg := stats.message()) is not None:
        warnings.warn(msg, stacklevel=2)
    if (msg := stats.unreliable_message()) is not None:
        warnings.warn(msg, UnreliableInput, stacklevel=2)
    return Predictions(names, np.concatenate([p.probabilities for p in parts]), list(model.label_names), stats,
                       [f for p in parts for f in p.flags])


def _format_rows(p: Predictions) -> Iterator[list[str]]:
    # %.9g round-trips float32 exactly, so the CSV holds the very numbers the Python API returns.
    probs = [[f"{v:.9g}" for v in row] for row in p.probabilities.tolist()]
    for ident, row, label, flag in zip(p.ids, probs, p.predicted, p.flags):
        yield [ident, *row, label, flag]


#: What ``predict_file`` writes, by the output's extension (before an optional ``.gz``): the column separator.
OUTPUT_FORMATS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


def output_format(output: str | os.PathLike) -> tuple[str, bool]:
    """``(delimiter, gzip-compressed)`` of the predictions file ``output``, from its extension: ``.csv`` comma,
    ``.tsv`` / ``.txt`` tab, either followed by ``.gz`` compressed; ``-`` (standard output), a name without an
    extension and a device or FIFO are CSV. Any other extension is refused with one sentence (a
    :class:`UserError`) before any work, so ``-o out.json`` does not get a CSV named .json."""
    text = os.fspath(output)
    if text == "-":
        return ",", False
    name = Path(text).name.lower()
    compressed = name.endswith(".gz")
    base = name[:-3] if compressed else name
    ext = Path(base).suffix
    if ext in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[ext], compressed
    if not ext and not compressed:
        return ",", False  # no extension (a device, a FIFO, a plain name): CSV, the default
    raise UserError(f"output {text!r} has the extension {(ext or '') + ('.gz' if compressed else '')!r}, which "
                    "predict does not write; use .csv (comma-separated), .tsv or .txt (tab-separated), optionally "
                    "followed by .gz (gzip-compressed)")


@contextlib.contextmanager
def _sink(output: str | os.PathLike, compressed: bool):
    """The text stream the predictions go to: standard output, or ``output`` written atomically (gzip-compressed
    when ``compressed``)."""
    if str(output) == "-":
        yield sys.stdout
        return
    if not compressed:
        with atomic_output(output, "w", newline="") as fh:
            yield fh
        return
    import gzip
    import io

    with atomic_output(output, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as gz, \
                io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:
            yield fh


def predict_file(model, source: str | os.PathLike, output: str | os.PathLike, *, format: str = "auto",
                 sequence_column: str | None = None, id_column: str | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, reverse_complement: bool = False,
                 device: str | torch.device | None = "auto", max_length: int | None = None,
                 progress: bool = True, threads: int | None = None) -> PredictSummary:
    """Predict every sequence of a file (or ``-`` for standard input) and write a CSV to ``output`` (``-`` for
    standard output; ``.tsv`` / ``.txt`` tab-separated, ``.gz`` after either gzip-compressed, see
    :func:`output_format`; an output that is the input file is refused). The file is written through
    :func:`zoo.outputs.atomic_output` (a temporary file renamed at the end: an interrupted run leaves no
    half-written output; devices and pipes are written through). Standard output
    is streamed batch by batch, starting with the first batch's rows."""
    _check_classifier(model)
    if str(output) != "-":
        from zoo.outputs import refuse_input_as_output

        refuse_input_as_output({"the output (-o)": output}, source)
    delimiter, compressed = output_format(output)
    dev = resolve_device(device, model)
    stats = LengthStats(model.encoding.length, model.encoding.pad_mode)
    t0, n = time.perf_counter(), 0
    with open_input(source, format=format, sequence_column=sequence_column, id_column=id_column) as inp:
        with _sink(output, compressed) as fh:
            writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
            # The header goes out with the first batch, so input rejected in that batch leaves stdout empty.
            header = Predictions([], np.zeros((0, model.num_classes)), list(model.label_names)).columns()
            for part in predict_records(model, inp, batch_size=batch_size, reverse_complement=reverse_complement,
                                        device=dev, max_length=max_length, progress=progress, total=inp.total,
                                        threads=threads):
                if header is not None:
                    writer.writerow(header)
                    header = None
                writer.writerows(_format_rows(part))
                stats.add(part.lengths)
                n += len(part)
            if header is not None:
                writer.writerow(header)
    return PredictSummary(str(output), n, stats, time.perf_counter() - t0, str(dev))


# model.predict(...) of every genozoo model: the models sit below this layer and do not import it.
ZooModel.predict_hook = staticmethod(predict)
