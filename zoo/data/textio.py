"""Bytes to text for every file genozoo reads: the encoding and compression layer beneath the format parsers.

Accepted: UTF-8 with or without a byte-order mark, UTF-16 and UTF-32 with a byte-order mark, any line ending
(``\\n``, ``\\r\\n`` or a lone ``\\r``), each optionally gzipped (detected from the magic bytes, not the name).
Anything else is a :class:`zoo.data.formats.FormatError`-style :class:`~zoo.errors.UserError` with one sentence
naming the file: text that is not valid in its encoding (with the byte offset), and a gzip stream that is
truncated or corrupt, which is never read as a shorter valid file. The source may be a path or bytes in memory
(an upload), so the CLI and the space decode alike. An ``OSError`` of opening or reading a path (permissions, a
device that fails to read such as ``/proc/self/mem``) becomes :func:`zoo.errors.read_failure`'s sentence, which
names the file, and :func:`zoo.errors.classify` reports it as an environment failure.
"""
from __future__ import annotations

import codecs
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import IO, Iterator, Union

from zoo.errors import UserError, read_failure

__all__ = ["Source", "open_text", "open_binary", "source_name", "TextDecodeError"]

Source = Union[str, os.PathLike, bytes]
_GZIP_MAGIC = b"\x1f\x8b"
# Longest marks first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class TextDecodeError(UserError):
    """A file is not text genozoo can read (bad encoding, damaged gzip); the message names the file."""


def source_name(source: Source, name: str | None = None) -> str:
    if name is not None:
        return name
    return "the uploaded data" if isinstance(source, (bytes, bytearray)) else repr(str(source))


def _raise_named(err: OSError, name: str):
    """Raise ``err`` (raised opening or reading the source called ``name``) as an error that names the source."""
    if err.errno is None:
        raise err
    raise read_failure(err, name) from err


class _CheckedGzip(io.RawIOBase):
    """A gzip stream whose damage (truncation, bad CRC, corrupt deflate data) is one sentence, not EOFError."""

    def __init__(self, raw: IO[bytes], name: str):
        self._gz, self._name = gzip.GzipFile(fileobj=raw, mode="rb"), name
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._gz.read(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            what = "truncated" if isinstance(err, EOFError) else f"corrupt ({err})"
            raise TextDecodeError(f"{self._name} is a damaged gzip file: {what}; download or compress it again")
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._gz.close()
            self._raw.close()
        finally:
            super().close()


def open_binary(source: Source, name: str | None = None) -> IO[bytes]:
    """The bytes of ``source`` (a path, or bytes in memory), un-gzipped when they start with the gzip magic."""
    label = source_name(source, name)
    try:
        raw: IO[bytes] = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except OSError as err:
        _raise_named(err, label)
    try:  # peek, not read and seek back: a pipe cannot seek
        magic = raw.peek(2)[:2] if hasattr(raw, "peek") else raw.read(2)
        if not hasattr(raw, "peek"):
            raw.seek(0)
    except OSError as err:
        raw.close()
        _raise_named(err, label)
    except BaseException:
        raw.close()
        raise
    if magic == _GZIP_MAGIC:
        return io.BufferedReader(_CheckedGzip(raw, label), buffer_size=1 << 16)
    return raw


class _CheckedText:
    """A text stream (iteration, ``readline``, ``read``) whose decoding errors are one sentence naming the file."""

    def __init__(self, binary: IO[bytes], name: str):
        try:
            head = binary.peek(4)[:4]  # type: ignore[attr-defined]
        except OSError as err:
            binary.close()
            _raise_named(err, name)
        self.encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), "utf-8")
        # newline="": lines split at \n, \r\n and a lone \r, endings kept, so the csv module sees them as written.
        self._text = io.TextIOWrapper(binary, encoding=self.encoding, newline="")
        self.name = name

    def _fail(self, err: UnicodeDecodeError):
        enc = "UTF-8" if self.encoding.startswith("utf-8") else self.encoding.upper()
        raise TextDecodeError(f"{self.name} is not {enc} text (byte 0x{err.object[err.start]:02x} cannot be "
                              f"decoded); save it as UTF-8, or give a FASTA/CSV/TSV file, plain or gzipped") from None

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                line = self._text.readline()
            except UnicodeDecodeError as err:
                self._fail(err)
            except OSError as err:
                _raise_named(err, self.name)
            if not line:
                return
            yield line

    def readline(self, size: int = -1) -> str:
        try:
            return self._text.readline(size)
        except UnicodeDecodeError as err:
            self._fail(err)
        except OSError as err:
            _raise_named(err, self.name)

    def read(self, size: int = -1) -> str:
        try:
            return self._text.read(size)
        except UnicodeDecodeError as err:
            self._fail(err)
        except OSError as err:
            _raise_named(err, self.name)

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> "_CheckedText":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_text(source: Source, name: str | None = None) -> _CheckedText:
    """Text of ``source`` (a path, or bytes in memory) decoded as described in the module docstring.

    ``name`` is how messages call the source (default: the quoted path, or "the uploaded data")."""
    label = source_name(source, name)
    if not isinstance(source, (bytes, bytearray)):
        p = Path(source)
        if not p.exists():
            raise UserError(f"file {label} does not exist; check the path")
        if p.is_dir():
            raise UserError(f"{label} is a folder; give a file")
    binary = open_binary(source, name)
    if not hasattr(binary, "peek"):
        binary = io.BufferedReader(binary)  # type: ignore[arg-type]
    return _CheckedText(binary, label)
