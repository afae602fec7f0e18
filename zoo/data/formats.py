"""File formats of genomic benchmarks, parsed as streams of ``(id, sequence, label)`` records.

Owns every on-disk format genozoo reads; parsers are generators, so files larger than memory stream through them.
Formats (``format=`` name, what a line looks like):

* ``fasta``: ``>ID [description]`` then sequence lines. The label is taken from the header (``label=X``, the last
  ``|`` field as in ``>name|1``, or the last whitespace-separated word), from a separate labels file, or, with
  ``label_last_char=True``, is the last character of the sequence (the Nguyen et al. histone files: 500 bp plus
  the label as the 501st character).
* ``csv`` / ``tsv``: a header row with named columns (default ``sequence`` and ``label``; ``seq``/``class`` and the
  like are found too).
* ``uci``: ``CLASS, GENE-ID, SEQUENCE`` (the UCI splice-junction file).
* ``zeng``: ``NAME SEQUENCE LABEL`` separated by blanks (Zeng et al. 2016 motif discovery; NAME may start with
  ``>``, negatives carry ``_shuf``).

Labels files (:func:`read_labels_file`) hold one label per line, ``ID LABEL`` lines, or a 0/1 matrix with one
column per class (:data:`LABEL_FORMS`); the parsed :class:`LabelsFile` says which form it was read as.

Any of them may be gzipped (detected from the magic bytes, not the name). A malformed line raises
:class:`FormatError` naming the file and line number.
"""
from __future__ import annotations

import csv
import os
import sys
import re
from pathlib import Path
from dataclasses import dataclass
from typing import IO, Iterator, Optional, Sequence, Tuple

from zoo.data.textio import Source, source_name
from zoo.data.textio import open_text as open_text_source
from zoo.errors import UserError

__all__ = ["FORMATS", "FormatError", "Record", "open_text", "detect_format", "iter_records", "iter_fasta",
           "iter_delimited", "iter_uci", "iter_zeng", "read_labels_file", "LabelsFile", "LABEL_FORMS",
           "strip_compression"]

FORMATS = ("fasta", "csv", "tsv", "uci", "zeng", "lines")
Record = Tuple[str, str, Optional[str]]

_FASTA_EXT = {".fa", ".fasta", ".fna", ".fas", ".ffn", ".seq"}
_SEQ_COLUMNS = ("sequence", "seq", "sequences", "dna", "text")
_LABEL_COLUMNS = ("label", "labels", "class", "target", "y")
_ID_COLUMNS = ("id", "name", "seq_id", "identifier")


# A CSV field holds a whole sequence, and chromosomes run to hundreds of MB: the csv module's default limit
# (131,072 characters) would refuse ordinary genomic records. The limit is process-wide; this only raises it.
csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))


class FormatError(UserError):
    """A file does not have the format it was read as (the message names file, line and what to do)."""


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open a text file for reading: UTF-8 (with or without BOM) or UTF-16/32 with a BOM, gzipped or not, any line
    ending; a bad encoding or a damaged gzip stream is a one-sentence error (see :mod:`zoo.data.textio`)."""
    return open_text_source(path)  # type: ignore[return-value]


def strip_compression(name: str) -> str:
    return name[:-3] if name.lower().endswith(".gz") else name


def detect_format(path: str | os.PathLike) -> str:
    """Guess the format from the extension and the first non-empty line (which wins where a table's extension
    does not match it: a FASTA or tab-separated file named ``.csv``)."""
    name = strip_compression(Path(path).name.lower())
    ext = Path(name).suffix
    if ext in _FASTA_EXT:
        return "fasta"
    with open_text(path) as fh:
        head = [line.strip() for _, line in zip(range(_HEAD_LINES), (ln for ln in fh if ln.strip()))]
    first = head[0] if head else ""
    if ext in (".csv", ".tsv", ".tab"):  # the first line overrides a table extension that does not match it
        if first.startswith(">"):
            return "fasta"
        if ext == ".csv" and "\t" in first and "," not in first:
            return "tsv"
        return "csv" if ext == ".csv" or ("," in first and "\t" not in first) else "tsv"
    parts_comma = [p.strip() for p in first.split(",")]
    parts_blank = first.split()
    if first.startswith(">") and len(parts_blank) <= 2 and not _is_dna(parts_blank[-1]):
        return "fasta"
    if len(parts_blank) == 3 and _is_dna(parts_blank[1]):
        return "zeng"
    if len(parts_comma) == 3 and _is_dna(parts_comma[2]):
        return "uci"
    if _is_dna(first) or (_SHORT_RE.match(first) and all(_DNA_RE.match(line) for line in head)):
        return "lines"  # one sequence per line, as the space's text box takes them (short ones too: ACGT)
    if first.startswith(">"):
        return "fasta"
    if "\t" in first:
        return "tsv"
    if "," in first:
        return "csv"
    # DNA in blocks ("acgtacgtac gtacgtacgt"): one sequence per line, whose blanks the encoding then refuses by
    # position, as the Gradio space refuses the same pasted line (not "cannot tell the format").
    if len(parts_blank) > 1 and all(_DNA_RE.match(part) for part in parts_blank):
        return "lines"
    raise FormatError(f"cannot tell the format of {str(path)!r}; give FASTA, CSV or TSV with a header row, or one "
                      f"sequence per line, or name the format (--format, format=: {', '.join(FORMATS)})")


_DNA_RE = re.compile(r"^[ACGTUNRYSWKMBDHVacgtunryswkmbdhv]+$")
#: A first line shorter than 8 letters is taken for a sequence only in plain bases, and when every line of the
#: file's start is a sequence too (a short word in IUPAC letters, such as a column named "data", is not one).
_SHORT_RE = re.compile(r"^[ACGTUNacgtun]+$")
_HEAD_LINES = 100


def _is_dna(s: str) -> bool:
    return bool(_DNA_RE.match(s)) and len(s) >= 8


# ------------------------------------------------------------------------------------------------ FASTA
_LABEL_KV = re.compile(r"(?:^|[\s|;])label[=:](\S+?)(?:[|;]|\s|$)")


def _header_label(header: str) -> tuple[str, Optional[str]]:
    """Split a FASTA header (without ``>``) into (id, label or None)."""
    m = _LABEL_KV.search(header)
    if m:
        return header.split()[0].split("|")[0], m.group(1)
    if "|" in header:
        first, *_, last = header.split("|")
        return first.strip(), last.strip() or None
    parts = header.split()
    if len(parts) >= 2:
        return parts[0], parts[-1]
    return header.strip(), None


def iter_fasta(path: Source, *, label_in_header: bool = True, label_last_char: bool = False,
               name: str | None = None) -> Iterator[Record]:
    """FASTA records of a file (or of bytes in memory); the label comes from the header (``label_in_header``) or
    the last sequence character. ``name``: how messages call the source (default: the quoted path)."""
    label_of = source_name(path, name)
    ident: Optional[str] = None
    label: Optional[str] = None
    chunks: list[str] = []
    with open_text_source(path, name) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                if ident is not None:
                    yield _fasta_record(label_of, ident, label, chunks, label_last_char)
                header = line[1:].strip()
                if label_in_header and not label_last_char:
                    ident, label = _header_label(header)
                else:
                    ident, label = (header.split()[0] if header else ""), None
                chunks = []
            elif ident is None:
                raise FormatError(f"{label_of} line {lineno} holds sequence before any '>' header; "
                                  "is it really FASTA? name the right format (--format, format=)")
            else:
                chunks.append(line)
    if ident is not None:
        yield _fasta_record(label_of, ident, label, chunks, label_last_char)


def _fasta_record(source: str, ident, label, chunks, label_last_char) -> Record:
    seq = "".join(chunks)
    if label_last_char:
        if not seq:
            raise FormatError(f"{source}: record {ident!r} is empty, so it has no label character")
        return ident, seq[:-1], seq[-1]
    return ident, seq, label


#: The three forms a labels file can take (what each line holds), for messages that say what was understood.
LABEL_FORMS = {
    "one-per-line": "one label per line, in the order of the records",
    "id-label": "'ID LABEL' per line (matched to the records by id)",
    "matrix": "a 0/1 matrix with one column per class and one row per record, in order",
}
_BINARY = {"0", "1", "0.0", "1.0"}


@dataclass
class LabelsFile:
    """A parsed labels file: its ``form`` (a key of :data:`LABEL_FORMS`), the labels (a list in record order, or a
    dict by id for ``id-label``) and, for a matrix, its number of columns and their names when a header row gave
    them."""

    path: str
    form: str
    labels: list[str] | dict[str, str]
    width: int = 1
    columns: list[str] | None = None

    def describe(self) -> str:
        what = LABEL_FORMS[self.form]
        if self.form == "matrix":
            what = f"a 0/1 matrix with {self.width} columns" + (
                f" ({', '.join(self.columns)})" if self.columns else "") + ", one row per record"
        return f"labels file {self.path!r} was read as {what}"


def _expected(path) -> str:
    return (f"labels file {str(path)!r} should hold " + ", or ".join(LABEL_FORMS.values()) +
            " (blank, comma or tab separated; an optional header row)")


def read_labels_file(path: str | os.PathLike, label_names: Optional[Sequence[str]] = None) -> LabelsFile:
    """Read a labels file in any of the :data:`LABEL_FORMS`.

    Rows whose fields are all ``0``/``1`` and as wide as each other (two or more columns) form a matrix: each row
    must hold exactly one ``1``, and its column is the class, named by ``label_names``, else by a header row,
    else ``0..k-1``. Two fields are ``ID LABEL``; one field is a label. A header row (``id,label``, or class names
    above a matrix) is skipped."""
    with open_text(path) as fh:
        rows = [(i, re.split(r"[\s,]+", line.strip())) for i, line in enumerate(fh, 1) if line.strip()]
    if not rows:
        raise FormatError(f"labels file {str(path)!r} is empty; " + _expected(path).split(" ", 3)[3])
    header = None
    body = rows
    if len(rows) > 1 and not any(f in _BINARY for f in rows[0][1]) and \
            all(set(r) <= _BINARY for _, r in rows[1:]) and len(rows[0][1]) == len(rows[1][1]) >= 2:
        header, body = rows[0][1], rows[1:]  # class names above a 0/1 matrix
    elif all(f.lower() in _ID_COLUMNS + _LABEL_COLUMNS for f in rows[0][1]):
        body = rows[1:]  # a header row: every field a column name ('id label'; a record named 'y' is not one)
    widths = {len(r) for _, r in body}
    width = widths.pop() if len(widths) == 1 else None
    if width is not None and width >= 2 and all(set(r) <= _BINARY for _, r in body):
        names = list(label_names) if label_names is not None else header
        if names is not None and len(names) != width:
            raise FormatError(f"labels file {str(path)!r} was read as a 0/1 matrix with {width} columns, but "
                              f"{len(names)} label names were given ({', '.join(names)}); name one class per column")
        labels = []
        for lineno, r in body:
            ones = [j for j, v in enumerate(r) if float(v) == 1.0]
            if len(ones) != 1:
                raise FormatError(f"labels file {str(path)!r} was read as a 0/1 matrix with {width} columns, but "
                                  f"line {lineno} holds {len(ones)} ones; each row needs exactly one 1 (one class "
                                  "per record; multi-label rows are not supported)")
            labels.append(names[ones[0]] if names is not None else str(ones[0]))
        return LabelsFile(str(path), "matrix", labels, width, list(names) if names is not None else None)
    if width == 1:
        return LabelsFile(str(path), "one-per-line", [r[0] for _, r in body])
    if width == 2:
        table: dict[str, str] = {}
        for lineno, (ident, label) in body:
            if ident in table and table[ident] != label:
                raise FormatError(f"labels file {str(path)!r} was read as 'ID LABEL' lines, but id {ident!r} has "
                                  f"two labels ({table[ident]!r} and {label!r}, line {lineno})")
            table[ident] = label
        return LabelsFile(str(path), "id-label", table, 2)
    lineno, r = next((i, r) for i, r in body if len(r) != len(body[0][1])) if width is None else body[0]
    raise FormatError(f"labels file {str(path)!r} line {lineno} holds {len(r)} fields, which fits none of the "
                      f"forms; {_expected(path)}")


# --------------------------------------------------------------------------------------- CSV / TSV
def _pick(columns: list[str], wanted: Optional[str], candidates: tuple[str, ...], what: str, path) -> Optional[str]:
    lower = {c.lower().strip(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise FormatError(f"{str(path)!r} has no column {wanted!r} for the {what}; its columns are "
                          f"{', '.join(columns)}; name the right one (--{what}-column, {what}_column=)")
    return next((lower[c] for c in candidates if c in lower), None)


def iter_delimited(path: str | os.PathLike, *, sequence_column: Optional[str] = None,
                   label_column: Optional[str] = None, id_column: Optional[str] = None,
                   delimiter: Optional[str] = None) -> Iterator[Record]:
    """Rows of a CSV/TSV file with a header; ids default to ``<file stem>-<n>`` when there is no id column, ``n``
    counting the records from 1 (blank rows are not records), as one sequence per line counts ``seq1``, ``seq2``."""
    stem = Path(strip_compression(Path(path).name)).stem
    with open_text(path) as fh:
        if delimiter is None:
            first = fh.readline()
            delimiter = "\t" if "\t" in first else ","
            fh = _chain_line(first, fh)
        reader = _csv_rows(csv.reader(fh, delimiter=delimiter), path)
        header = next(reader, None)
        if not header:
            raise FormatError(f"{str(path)!r} is empty; expected a header row such as 'sequence,label'")
        seq_col = _pick(header, sequence_column, _SEQ_COLUMNS, "sequence", path)
        if seq_col is None:
            raise FormatError(f"{str(path)!r} has no sequence column (columns: {', '.join(header)}); "
                              "name it with --sequence-column (sequence_column=)")
        lab_col = _pick(header, label_column, _LABEL_COLUMNS, "label", path)
        id_col = _pick(header, id_column, _ID_COLUMNS, "id", path)
        si = header.index(seq_col)
        li = header.index(lab_col) if lab_col is not None else None
        ii = header.index(id_col) if id_col is not None else None
        n = 0
        for rowno, row in enumerate(reader, 1):
            if not row:
                continue
            if len(row) != len(header):
                raise FormatError(f"{str(path)!r} row {rowno + 1} has {len(row)} fields, the header has "
                                  f"{len(header)}")
            n += 1
            yield (row[ii] if ii is not None else f"{stem}-{n}", row[si].strip(),
                   row[li].strip() if li is not None else None)


def _csv_rows(reader, path) -> Iterator[list[str]]:
    """The rows of a csv reader; its errors (a NUL byte, a newline inside an unquoted field) name file and line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise FormatError(f"{str(path)!r} line {reader.line_num} is not valid CSV/TSV ({err}); check the file "
                              f"or name the right format (--format, format=)") from None
        yield row


def _chain_line(first: str, fh: IO[str]) -> Iterator[str]:
    yield first
    yield from fh


# -------------------------------------------------------------------------------------- UCI / Zeng
def iter_uci(path: str | os.PathLike) -> Iterator[Record]:
    """``CLASS, GENE-ID, SEQUENCE`` lines (blanks around the commas are ignored)."""
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 3:
                raise FormatError(f"{str(path)!r} line {lineno} should be 'CLASS, GENE-ID, SEQUENCE' (UCI format), "
                                  f"got {len(parts)} comma-separated fields")
            yield parts[1], parts[2], parts[0]


def iter_zeng(path: str | os.PathLike) -> Iterator[Record]:
    """``NAME SEQUENCE LABEL`` lines (Zeng et al. motif discovery); a leading ``>`` on NAME is dropped."""
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise FormatError(f"{str(path)!r} line {lineno} should be 'NAME SEQUENCE LABEL' (Zeng format), "
                                  f"got {len(parts)} fields")
            yield parts[0].lstrip(">"), parts[1], parts[2]


def iter_lines(path: str | os.PathLike) -> Iterator[Record]:
    """One sequence per line, no header and no labels (what the space's text box takes); the ids are ``seq1``,
    ``seq2``, ... in the order of the lines that are not blank."""
    with open_text(path) as fh:
        n = 0
        for line in fh:
            if line.strip():
                n += 1
                yield f"seq{n}", line.strip(), None


def iter_records(path: str | os.PathLike, format: str = "auto", **options) -> Iterator[Record]:
    """Records of one file in any supported format (``format="auto"`` guesses; see :func:`detect_format`)."""
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "fasta":
        return iter_fasta(path, **options)
    if fmt in ("csv", "tsv"):
        options.setdefault("delimiter", "\t" if fmt == "tsv" else ",")
        return iter_delimited(path, **options)
    if fmt == "uci":
        return iter_uci(path)
    if fmt == "zeng":
        return iter_zeng(path)
    if fmt == "lines":
        return iter_lines(path)
    raise UserError(f"unknown file format {format!r}; use one of auto, {', '.join(FORMATS)}")
