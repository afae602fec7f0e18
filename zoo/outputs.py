"""Writing the files a user asks for, so that none is ever half-written, lost or redirected.

:func:`atomic_output` is the one way genozoo writes an output file (predictions, logos, attributions, motifs,
cards, reports, logs, checkpoints' small files):

* a regular file (new or existing) is written to a temporary file in the *target's own folder* and renamed over
  it, so a reader sees the old file or the new one, never a part; an existing file keeps its permissions, and one
  the user cannot write is refused (a read-only file is a promise we do not break by renaming over it);
* a symbolic link is followed: the file it points to is replaced, the link stays;
* a character device (``/dev/null``, ``/dev/full``, a terminal) or a FIFO (``-o >(gzip > x)``) is written
  *through*, never replaced by a plain file; a socket or block device is refused;
* temporary files are removed when writing fails, on ``KeyboardInterrupt`` and (through the CLI, which turns
  SIGTERM into :class:`zoo.errors.Terminated`) on SIGTERM; an ``atexit`` hook removes any still registered, and
  the next write of the same file removes those of a writer killed outright (their names carry its process id).
"""
from __future__ import annotations

import atexit
import errno
import os
import signal
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from zoo.errors import UserError

__all__ = ["atomic_output", "atomic_write_text", "atomic_write_bytes", "check_output_folder", "output_folder",
           "live_temporaries"]

_LIVE: set[str] = set()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Mode of a new output: what a plain open() gives under the user's umask (read once: os.umask is process-wide).
_FILE_MODE = 0o666 & ~_umask()


def live_temporaries() -> list[str]:
    """Temporary files being written right now (for tests and the exit hook)."""
    return sorted(_LIVE)


@atexit.register
def _remove_live() -> None:
    for name in list(_LIVE):
        try:
            os.unlink(name)
        except OSError:
            pass
        _LIVE.discard(name)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process, alive
        return True
    return True


def _sweep_stale(target: Path) -> None:
    """Remove temporaries of ``target`` left by a writer that was killed outright (SIGKILL, power cut): their names
    carry the writer's process id, and that process is gone."""
    prefix = f".{target.name}."
    try:
        names = [n for n in os.listdir(target.parent) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for n in names:
        pid = n[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.unlink(target.parent / n)
            except OSError:
                pass


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (they are delivered when the block ends) where the platform allows it."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextmanager
def _naming(path: str | os.PathLike) -> Iterator[None]:
    """An OSError raised while writing (a full disk) names the output the user gave, not a temporary file."""
    try:
        yield
    except OSError as err:
        if err.errno is not None and err.filename is None:
            err.filename = os.fspath(path)
        raise


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                  newline: str | None = None) -> Iterator[IO]:
    """A file object for ``path`` (``mode`` ``"w"`` or ``"wb"``) that becomes ``path`` only when the block ends
    without an exception; see the module docstring for links, devices and FIFOs."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output writes with mode 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    kwargs = {} if binary else {"encoding": encoding, "newline": newline}
    target = Path(path)
    st = _stat(target)
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise UserError(f"output {str(path)!r} is a folder; give a file name inside it")
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise UserError(f"output {str(path)!r} is a socket or block device, not a file genozoo can write; "
                            "give a regular file")
        with _naming(path), open(target, mode, **kwargs) as fh:  # written through: it stays what it is
            yield fh
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # replace the file the link points to, not the link
    if st is not None and not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(target)
    fd, tmp = -1, None
    try:
        with _signals_held():  # a SIGTERM between creating the file and registering it would leave it behind
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
            _LIVE.add(tmp)
        # mkstemp makes 0600 files; give the output the mode a plain open() would (or the old file's).
        os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else _FILE_MODE)
        with _naming(path), os.fdopen(fd, mode, **kwargs) as fh:
            fd = -1
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if fd != -1:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            _LIVE.discard(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_output(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path, "wb") as fh:
        fh.write(data)


def check_output_folder(path: str | os.PathLike) -> Path:
    """Refuse ``path`` as a folder to write into when something else (a file, a device) is there already."""
    p = Path(path)
    st = _stat(p)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise UserError(f"output {str(path)!r} exists and is not a folder; give a new or existing folder")
    return p


def output_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to write into: created if missing; a file (or anything else) there is refused."""
    p = check_output_folder(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
