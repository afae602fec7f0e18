"""Sequence input for prediction and explanation: files, standard input, bytes in memory (an upload) and literal
sequences as a stream of ``(id, sequence)`` records, read in batches with bounded memory.

:func:`open_input` is the one entry point, shared by ``genozoo predict``/``explain`` and the space, so they give
the same sequences and the same refusals. Decoding (UTF-8 with or without BOM, UTF-16 with BOM, gzip, any line
ending) is :mod:`zoo.data.textio`'s; a file is read through once before the first record is returned (the
progress total), so a bad encoding or a truncated gzip stream is refused before any output is written.

The file formats themselves (FASTA, CSV/TSV, UCI, Zeng; gzipped or not) are parsed by :mod:`zoo.data.formats`;
this module adds what a *prediction* input needs on top: standard input (``-``), a literal sequence given on the
command line, a progress total (records counted by a pre-scan that also checks the decoding), batching, and a
clear error for an input that holds no sequence at all. :func:`sequence_list` and :func:`checked_strings` define
the in-memory input of ``model.predict`` and ``zoo.explain.attribute`` (strings, ASCII bytes, lists, an
``{id: sequence}`` dict, a pandas Series with its index as ids) and refuse everything else with one sentence.
Standard input, pipes and in-memory bytes are spooled to a temporary file in chunks (the parsers read paths), so
memory stays bounded whatever the size of the stream.
"""
from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, TypeVar

from zoo.errors import UserError

__all__ = ["SequenceInput", "open_input", "open_text_input", "looks_like_sequence", "is_existing_path", "batched",
           "count_records", "sequence_list", "checked_strings"]

T = TypeVar("T")
_SEQUENCE_RE = re.compile(r"^[ACGTUNRYSWKMBDHVacgtunryswkmbdhv]+$")
_CHUNK = 1 << 20
_COUNT_LIMIT = 2 << 30


def looks_like_sequence(text: str) -> bool:
    """True when ``text`` is a literal DNA sequence (IUPAC letters only) rather than a file name."""
    return bool(_SEQUENCE_RE.match(text))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items (the last one may be shorter)."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


_KINDS = "a DNA string, a list of them, or a dict {id: sequence}"


def sequence_list(sequences: Any, ids: Any = None, *, verb: str = "predict") -> tuple[list[str], list]:
    """``(ids, sequences)`` of what ``model.predict`` / ``zoo.explain.attribute`` were given, the one definition of
    the in-memory input they accept: a DNA string (``str``, or ``bytes`` of ASCII text), any ordered collection of
    them (list, tuple, 1-D numpy array, iterator), a ``{id: sequence}`` dict or a pandas Series (whose index
    gives the ids unless ``ids`` is given). ``ids`` default to ``seq1``, ``seq2``, ...; a single id may be a
    string. A set (no order), a DataFrame, a tensor, ``None`` or a non-collection is refused with one sentence
    (:class:`UserError`). The entries are not checked here (the caller's fast path does; see
    :func:`checked_strings`)."""
    given = ids
    if isinstance(sequences, (str, bytes, bytearray)):
        seqs = [sequences]
    else:
        kind = type(sequences)
        module = getattr(kind, "__module__", "") or ""
        ndim = getattr(sequences, "ndim", None)
        if sequences is None:
            raise UserError(f"no sequences to {verb} (None); pass {_KINDS}")
        if module.startswith("torch"):
            raise UserError(f"sequences is a torch {kind.__name__}, but {verb} takes raw DNA strings; pass "
                            f"{_KINDS}" + (" (for an encoded batch use model.predict_encoded(x))"
                                           if verb == "predict" else ""))
        if module.startswith("pandas") and kind.__name__ == "DataFrame":
            raise UserError("sequences is a pandas DataFrame; pass its sequence column, e.g. df['sequence'] (its "
                            "index gives the ids)")
        if isinstance(ndim, int) and ndim != 1 and hasattr(sequences, "item"):  # a numpy array
            if ndim != 0:
                raise UserError(f"sequences is a {ndim}-dimensional array; pass a 1-dimensional array or a list "
                                "of DNA strings")
            seqs = [sequences.item()]
        elif module.startswith("pandas") and kind.__name__ == "Series":
            seqs = sequences.tolist()
            if given is None:  # the row labels, so the predictions join back to the table
                given = sequences.index.tolist()
        elif isinstance(sequences, Mapping):
            if given is not None:
                raise UserError("the sequences are a dict, whose keys are their ids; do not pass ids as well")
            given, seqs = list(sequences.keys()), list(sequences.values())
        elif isinstance(sequences, (set, frozenset)):
            raise UserError("sequences is a set, which has no order, so the results could not be matched to "
                            "them; pass a list, or a dict {id: sequence}")
        else:
            try:
                seqs = list(sequences)
            except TypeError:
                raise UserError(f"sequences must be {_KINDS}, not {kind.__name__}") from None
    if not seqs:
        raise UserError(f"no sequences to {verb}; pass {_KINDS}")
    if given is None:
        names = [f"seq{i + 1}" for i in range(len(seqs))]
    elif isinstance(given, (str, bytes)):
        names = [given.decode(errors="replace") if isinstance(given, bytes) else given]
    else:
        names = [str(i) for i in given]
    if len(names) != len(seqs):
        raise UserError(f"{len(names)} ids given for {len(seqs)} sequences")
    return names, seqs


def _what(value: Any) -> str:
    """What a non-string entry is, for an error message."""
    if value is None:
        return "None (a missing value)"
    if type(value).__name__ in ("NAType", "NaTType"):
        return f"{value} (a missing value, such as a blank cell of a table)"
    if (isinstance(value, float) and math.isnan(value)) or \
            (hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0 and value != value):
        return "NaN (a missing value, such as a blank cell of a table)"
    text = repr(value)
    return f"a {type(value).__name__} ({text[:40] + '...' if len(text) > 40 else text})"


def checked_strings(sequences: Sequence[Any], ids: Sequence[str]) -> list[str]:
    """``sequences`` as strings: ``bytes`` decoded as ASCII; any other entry that is not a ``str`` (``None``, a
    NaN from a blank table cell, a number) is refused with one sentence naming its id (:class:`UserError`)."""
    out = list(sequences)
    for i, s in enumerate(out):
        if isinstance(s, str):
            continue
        if isinstance(s, (bytes, bytearray)):
            try:
                out[i] = bytes(s).decode("ascii")
            except UnicodeDecodeError as e:
                raise UserError(f"sequence {ids[i]!r} is bytes that are not ASCII text (byte {s[e.start]:#04x} at "
                                f"position {e.start + 1}); pass it as a DNA string") from None
            continue
        if isinstance(s, tuple) and len(s) == 2:
            text = repr(s)
            raise UserError(f"sequence {ids[i]!r} is a pair {text[:40] + '...' if len(text) > 40 else text}, not a "
                            "DNA string; for (id, sequence) pairs pass dict(pairs)")
        missing = "a missing value" in _what(s)
        raise UserError(f"sequence {ids[i]!r} is {_what(s)}, not a DNA string; "
                        + ("remove the missing values first (for a pandas Series, series.dropna())" if missing
                           else "pass each sequence as a string of A, C, G, T"))
    return out


def is_existing_path(text: str) -> bool:
    """True when ``text`` names something on disk. A string too long to be a file name (a literal sequence of
    thousands of bases) or otherwise unusable as a path is simply not one, instead of an ``OSError``."""
    try:
        os.stat(text)
    except (OSError, ValueError):
        return False
    return True


def count_records(path: str | os.PathLike | bytes, fmt: str, name: str | None = None) -> int:
    """Number of records in a file, counted on its decoded text without parsing (FASTA: header lines; other
    formats: lines, less the header row of CSV/TSV). Only the total of a progress bar: blank lines may make it a
    little high. Reading the whole text also raises the decoding errors (bad encoding, damaged gzip) up front."""
    from zoo.data.textio import open_text

    n, lines, prev = 0, 0, "\n"
    with open_text(path, name) as fh:
        while chunk := fh.read(_CHUNK):
            chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
            if fmt == "fasta":
                n += chunk.count("\n>") + (prev == "\n" and chunk.startswith(">"))
            else:
                lines += chunk.count("\n")
            prev = chunk[-1:]
        if fmt != "fasta":
            n = lines + (prev != "\n")  # a last line without a newline
            n -= fmt in ("csv", "tsv")
    return max(n, 0)


class SequenceInput:
    """One input of ``(id, sequence)`` records: a file, a spooled standard input, or literal sequences.

    Iterate it for records; ``total`` is the record count (for a progress bar; ``None`` if unknown).
    """

    def __init__(self, records: Iterable[tuple[str, str]], name: str, total: int | None = None):
        self._records, self.name, self.total = records, name, total

    def __iter__(self) -> Iterator[tuple[str, str]]:
        seen = False
        for ident, seq in self._records:
            seen = True
            yield ident, seq
        if not seen:
            raise UserError(f"input {self.name} holds no sequences; give a FASTA, CSV or TSV file with at least "
                            "one record")


def _file_records(path: Path, fmt: str, sequence_column: str | None, id_column: str | None
                  ) -> Iterator[tuple[str, str]]:
    from zoo.data.formats import iter_records

    options: dict = {}
    if fmt == "fasta":
        options["label_in_header"] = False  # the whole first word of the header is the id
    elif fmt in ("csv", "tsv"):
        options.update(sequence_column=sequence_column, id_column=id_column)
    for ident, seq, _label in iter_records(path, format=fmt, **options):
        yield ident, seq


def _spool(data: bytes | str | None, name: str) -> Path:
    """Copy ``data`` (bytes; a path of a pipe, a device or a special file; ``None``: standard input) to a file in a
    fresh temporary folder under ``name`` (its extension guides the format guess) and return its path. Streams are
    copied in chunks, so memory stays bounded. An error reading ``data`` names it (:func:`zoo.errors.read_failure`);
    one writing the copy (a full temporary disk) names the copy's place."""
    from zoo.errors import read_failure, write_failure

    try:
        folder = Path(tempfile.mkdtemp(prefix="genozoo-input-"))
    except OSError as err:
        raise write_failure(err, os.path.join(tempfile.gettempdir(), "genozoo-input-*"),
                            tempfile.gettempdir()) from err
    path = folder / (Path(name).name or "input")
    shown = "<stdin>" if data is None else repr(str(data))
    try:
        with open(path, "wb") as out:
            def put(chunk: bytes) -> None:
                try:
                    out.write(chunk)
                except OSError as err:
                    raise write_failure(err, path, folder) from err

            if isinstance(data, bytes):
                put(data)
                return _flushed(out, path, folder)
            try:
                stream = sys.stdin.buffer if data is None else open(data, "rb")
            except OSError as err:
                raise read_failure(err, shown) from err
            try:
                while True:
                    try:
                        chunk = stream.read(_CHUNK)
                    except OSError as err:
                        raise read_failure(err, shown) from err
                    if not chunk:
                        break
                    put(chunk)
            finally:
                if data is not None:
                    stream.close()
            return _flushed(out, path, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _flushed(out, path: Path, folder: Path) -> Path:
    """``path`` once the copy's buffered bytes are on their way to the disk (where a full disk shows)."""
    from zoo.errors import write_failure

    try:
        out.flush()
    except OSError as err:
        raise write_failure(err, path, folder) from err
    return path


@contextmanager
def _naming_input(copy: Path | None, label: str) -> Iterator[None]:
    """Errors about the spooled ``copy`` of an input name the input as the user gave it (``label``)."""
    try:
        yield
    except UserError as e:
        if copy is None or repr(str(copy)) not in str(e):
            raise
        raise type(e)(str(e).replace(repr(str(copy)), label)) from None
    except OSError as e:
        from zoo.errors import EnvironmentFailure

        if copy is None or not isinstance(e, EnvironmentFailure) or repr(str(copy)) not in str(e):
            raise
        failure = EnvironmentFailure(str(e).replace(repr(str(copy)), label))
        failure.errno = e.errno
        raise failure from None


def _renamed_records(records: Iterable[tuple[str, str]], copy: Path | None, label: str
                     ) -> Iterator[tuple[str, str]]:
    with _naming_input(copy, label):
        yield from records


@contextmanager
def open_input(source: str | os.PathLike | bytes, *, format: str = "auto", sequence_column: str | None = None,
               id_column: str | None = None, allow_literal: bool = False, name: str | None = None
               ) -> Iterator[SequenceInput]:
    """Open a prediction input: a path (FASTA / FASTA.gz / CSV / TSV / UCI / Zeng), ``-`` for standard input,
    bytes in memory (an upload; ``name`` is its file name, used for messages and the format guess), or (with
    ``allow_literal``) a literal DNA sequence, which gets the id ``seq1``. A string that names no existing file
    and consists of IUPAC letters is a sequence, whatever its length.

    CSV/TSV files take the sequence from ``sequence_column`` (default: a column named ``sequence``, ``seq``, ...)
    and the id from ``id_column`` (default: ``id``/``name``, else ``<file stem>-<n>``, ``n`` counting the
    sequences from 1 as ``seq1``, ``seq2``, ... of one sequence per line do).
    """
    from zoo.data.formats import FORMATS, detect_format

    if format != "auto" and format not in FORMATS:
        raise UserError(f"unknown input format {format!r}; use one of auto, {', '.join(FORMATS)}")
    spooled: Path | None = None
    try:
        if isinstance(source, (bytes, bytearray)):
            spooled = _spool(bytes(source), name or "upload")
            path, label = spooled, repr(name) if name else "the uploaded data"
        elif str(source) == "-":
            spooled = _spool(None, "stdin")
            path, label = spooled, "<stdin>"
        else:
            text = str(source)
            path, label = Path(text), repr(text)
            if not is_existing_path(text):
                if allow_literal and looks_like_sequence(text):
                    yield SequenceInput([("seq1", text)], "the sequence given", total=1)
                    return
                shown = text if len(text) <= 60 else text[:50] + "..."
                what = "neither a file nor a DNA sequence" if allow_literal else "not a file"
                raise UserError(f"input {shown!r} is {what}; check the path")
            if path.is_dir():
                raise UserError(f"input {text!r} is a folder; give a FASTA, CSV or TSV file")
            # A pipe (<(zcat x)), /dev/stdin, a device, or a file whose size says nothing of its content (those
            # of /proc and /sys show 0 bytes and may read differently each time): read it once, into a file.
            if not path.is_file() or path.stat().st_size == 0:
                spooled = _spool(text, path.name)
                path = spooled
        size = path.stat().st_size
        if size == 0:
            raise UserError(f"input {label} is empty; give a FASTA, CSV or TSV file with at least one sequence")
        with _naming_input(spooled, label):  # the input as the user knows it, not a spooled copy's temporary path
            fmt = detect_format(path) if format == "auto" else format
            # The pre-scan costs one extra read of the file (it also checks the decoding before any output); past
            # a few GB a bar without a total is the better deal.
            total = count_records(path, fmt) if size < _COUNT_LIMIT else None
        yield SequenceInput(_renamed_records(_file_records(path, fmt, sequence_column, id_column), spooled, label),
                            label, total)
    finally:
        if spooled is not None:
            shutil.rmtree(spooled.parent, ignore_errors=True)


@contextmanager
def open_text_input(text: str, name: str = "the pasted text") -> Iterator[SequenceInput]:
    """Sequences given as text (the space's text box): FASTA when the first character that is not blank is
    ``>``, otherwise one sequence per line (ids ``seq1``, ``seq2``, ...).

    FASTA text goes through the parser of a FASTA file (reading the text's bytes in memory), so pasted text and a
    file give the same sequences or the same refusal. Lines end at ``\n``, ``\r\n`` or a lone ``\r``, and only
    their ends are stripped: a space inside a sequence is refused by the encoding, as in a file.
    """
    from zoo.data.formats import iter_fasta

    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith(">"):
        lines = [ln.strip() for ln in body.splitlines()]
        records = [(f"seq{i + 1}", ln) for i, ln in enumerate(ln for ln in lines if ln)]
        yield SequenceInput(records, name, total=len(records))
        return
    data = body.encode("utf-8", errors="surrogatepass")
    records = ((ident, seq) for ident, seq, _label in iter_fasta(data, label_in_header=False, name=name))
    yield SequenceInput(records, name, total=count_records(data, "fasta", name))
