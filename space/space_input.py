"""What a user gives the space, read and checked: the per-request limits, sequences parsed from pasted text and
uploads by the CLI's own reader (:mod:`zoo.io`, so the space and ``genozoo predict`` read the same sequences or
refuse them with the same sentence, save that a hint naming a command-line option, ``--format`` say, is reworded
to what a user of the page can do), and the note on how a sequence fits the model's input (padded, cropped,
mostly padding or N, no bases at all: :func:`zoo.predict.input_flags`, the definition ``genozoo predict`` flags
by). Messages name an upload by its file name, never by the server's temporary path.
"""
from __future__ import annotations

import csv
import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import UserError
from zoo.io import open_input, open_text_input

__all__ = ["Limits", "parse_sequences", "parse_input", "unique_ids", "padding_note", "space_wording"]


@dataclass(frozen=True)
class Limits:
    """Per-request bounds, so one request cannot take the machine: sequences, length, upload size."""

    max_sequences: int = 100
    max_length: int = 5_000
    max_upload_bytes: int = 2_000_000


def _too_many(n: int, limits: Limits) -> UserError:
    return UserError(f"more than {limits.max_sequences} sequences given ({n} or more), the space takes at most "
                     f"{limits.max_sequences} per request; split the input or use `genozoo predict` for large files")


def _check_upload(path: Path, name: str, limits: Limits) -> None:
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise UserError(f"the uploaded file {name!r} is {size:,} bytes, more than the space accepts "
                        f"({limits.max_upload_bytes:,}); predict large files with `genozoo predict` instead")
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped:
        # Count the unpacked bytes before parsing, so a small gzip bomb cannot fill the memory.
        budget, total = limits.max_upload_bytes * 20, 0
        try:
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    total += len(chunk)
                    if total > budget:
                        raise UserError(f"the uploaded file {name!r} unpacks to more than {budget:,} bytes; "
                                        f"predict large files with `genozoo predict` instead")
        except (EOFError, OSError, zlib.error):
            return  # a damaged gzip: the reader below refuses it with the CLI's sentence


_EXTENSIONS = ".fa or .fasta for FASTA, .csv or .tsv for a table, .txt for one sequence per line"
#: The reader's hints name `genozoo predict`'s options, which the page does not have: what to do in the page instead.
_SPACE_HINTS = (
    (re.compile(r"name it with --sequence-column \(sequence_column=\)"),
     "rename the column that holds the DNA to 'sequence' (or seq, dna or text) and upload the file again"),
    (re.compile(r", or name the format \(--format, format=[^)]*\)"), f" ({_EXTENSIONS}; gzipped or not)"),
    (re.compile(r"name the right format \(--format, format=\)"), f"give the file the extension of its format "
                                                                  f"({_EXTENSIONS})"),
    (re.compile(r"name the right one \(--[\w-]+, \w+=\)"), "rename the column that holds the DNA to 'sequence'"),
    (re.compile(r" \(--[\w-]+, [\w=: ,]*\)"), ""),  # any other option: the sentence stands without it
)


def space_wording(message: str) -> str:
    """A message of the CLI's reader (:mod:`zoo.io`) as the space gives it: its hints about `genozoo predict`'s
    options (``--sequence-column``, ``--format``) replaced by what a user of the page can do."""
    for pattern, hint in _SPACE_HINTS:
        message = pattern.sub(hint, message)
    return message


def _read_upload(path: Path, limits: Limits, add) -> None:
    """The records of an upload, read exactly as ``genozoo predict FILE`` reads them (:func:`zoo.io.open_input`).
    Messages name the file as the user knows it, never by the server's temporary path."""
    name = path.name
    try:
        _check_upload(path, name, limits)
        with open_input(path) as inp:
            for ident, seq in inp:
                add(ident, seq)
    except UserError as e:
        msg = str(e).replace(repr(str(path)), repr(name)).replace(str(path), name)
        raise type(e)(space_wording(msg)) from None
    except (ValueError, EOFError, OSError, UnicodeError, zlib.error, csv.Error):
        # Undecodable bytes, a truncated or corrupt gzip, an over-long CSV field: the file is not one we can read.
        raise UserError(f"the uploaded file {name!r} cannot be read as FASTA, CSV or TSV text (UTF-8, gzipped or "
                        "not); check that it is such a file and complete, not a binary or cut-off download") from None


def unique_ids(ids: list[str]) -> tuple[list[str], str]:
    """``ids`` with each repeat renamed (the second ``a`` becomes ``a (2)``, the third ``a (3)``, skipping a name
    the input already uses), so every sequence can be named on its own (the Explain picker and ``/explain`` pick a
    sequence by its id), and a sentence saying what was renamed (``""`` when nothing was)."""
    if len(set(ids)) == len(ids):
        return ids, ""
    taken, seen, out, renamed = set(ids), {}, [], []
    for ident in ids:
        seen[ident] = seen.get(ident, 0) + 1
        if seen[ident] == 1:
            out.append(ident)
            continue
        n = seen[ident]
        while f"{ident} ({n})" in taken:
            n += 1
        new = f"{ident} ({n})"
        taken.add(new)
        out.append(new)
        renamed.append(f"{new!r} is sequence {len(out)}")
    shown = "; ".join(renamed[:3]) + (f"; and {len(renamed) - 3} more" if len(renamed) > 3 else "")
    return out, f"ids repeated in the input were made unique: {shown}"


def parse_sequences(text: str | None = None, upload: str | Path | None = None,
                    limits: Limits = Limits()) -> tuple[list[str], list[str]]:
    """Sequence ids and sequences from pasted text and/or an uploaded file, parsed by :mod:`zoo.io` as the CLI
    parses them (so both give the same sequences or the same refusal).

    Pasted text is FASTA (``>id`` headers, sequence over one or more lines) or one sequence per line (ids
    ``seq1``, ``seq2``, ...). An upload is any file ``genozoo predict`` reads (FASTA, CSV/TSV with a ``sequence``
    column, plain or gzipped). Characters are checked when encoding, which names the sequence and position.
    A repeated id is made unique (:func:`unique_ids`), so the same input gives the same ids to every endpoint.
    """
    ids, seqs, _ = parse_input(text, upload, limits)
    return ids, seqs


def parse_input(text: str | None = None, upload: str | Path | None = None,
                limits: Limits = Limits()) -> tuple[list[str], list[str], str]:
    """:func:`parse_sequences`, and the sentence of :func:`unique_ids` (``""`` when every id was unique)."""
    ids: list[str] = []
    seqs: list[str] = []

    def add(ident: str, seq: str) -> None:
        if len(seqs) == limits.max_sequences:
            raise _too_many(len(seqs) + 1, limits)
        ids.append(ident or f"seq{len(ids) + 1}")
        seqs.append(seq)

    if text and text.strip():
        try:
            with open_text_input(text) as inp:
                for ident, seq in inp:
                    add(ident, seq)
        except UserError as e:
            raise type(e)(space_wording(str(e))) from None
    if upload:
        _read_upload(Path(upload), limits, add)
    if not seqs:
        raise UserError("no sequences given; paste DNA sequences (FASTA or one per line) or upload a FASTA file")
    for i, (sid, s) in enumerate(zip(ids, seqs)):
        if not s:
            raise UserError(f"sequence {sid!r} (number {i + 1}) is empty; remove its header or add its sequence")
        if len(s) > limits.max_length:
            raise UserError(f"sequence {sid!r} (number {i + 1}) is {len(s):,} bp long, the space takes at most "
                            f"{limits.max_length:,} bp; cut it to the model's length")
    ids, note = unique_ids(ids)
    return ids, seqs, note


def padding_note(sequence: str | int, model_length: int | None) -> str:
    """What the table says about one sequence's fit to the model's input: padded, cropped, or a prediction that
    carries no or little information, as ``genozoo predict`` flags it (:func:`zoo.predict.input_flags`): a sequence
    with no A, C, G or T, or one that is mostly padding or N (bases in less than half of the model's input). A bare
    length is read as a sequence of that many bases."""
    from zoo.predict import MOSTLY_PADDING, NO_BASES, base_counts, flags_from_counts  # torch: only when predicting

    length = sequence if isinstance(sequence, int) else len(sequence)
    bases = length if isinstance(sequence, int) else int(base_counts([sequence])[0])
    flag = flags_from_counts([bases], model_length)[0]
    if flag == NO_BASES:
        return "no A, C, G or T: this prediction carries no information"
    if flag == MOSTLY_PADDING:
        if bases < length:
            return (f"mostly padding or N (only {bases} of the model's {model_length} bp are A, C, G or T): this "
                    "prediction is unreliable")
        return f"mostly padding ({length} of {model_length} bp): this prediction is unreliable"
    if model_length is None or length == model_length:
        return ""
    return f"padded to {model_length}" if length < model_length else f"cropped to {model_length}"
