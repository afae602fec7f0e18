"""Writing the files a user asks for, so that none is ever half-written, lost or redirected.

:func:`atomic_output` is the one way genozoo writes an output file (predictions, logos, attributions, motifs,
cards, reports, logs, checkpoints' small files):

* a regular file (new or existing) is written to a temporary file in the *target's own folder* and renamed over
  it, so a reader sees the old file or the new one, never a part; an existing file keeps its permissions, and one
  the user cannot write is refused (a read-only file is a promise we do not break by renaming over it);
* a symbolic link is followed: the file it points to is replaced, the link stays;
* a character device (``/dev/null``, ``/dev/full``, a terminal) or a FIFO (``-o >(gzip > x)``) is written
  *through*, never replaced by a plain file; a socket or block device is refused;
* :func:`check_outputs` refuses, before any computing, a command's outputs that cannot all be written (two that
  are the same file, a folder, a folder that cannot be written into); inside :func:`all_or_nothing` they appear
  together at the end, or none of them;
* missing folders on the way to an output are created, and removed again when the output is not written (a
  failure, an interrupt, or another output of the same :func:`all_or_nothing` block failing);
* an error names the path the user gave, never a temporary file; an output that cannot be written where it was
  asked for (permissions, a read-only or special file system such as ``/proc``, a full disk) is one sentence
  "cannot write PATH: why" with exit status 1 (:func:`zoo.errors.write_failure`); a path that goes through a
  file, or a name too long, stays the user's mistake (status 2);
* temporary files are removed when writing fails, on ``KeyboardInterrupt`` and (through the CLI, which turns
  SIGTERM into :class:`zoo.errors.Terminated`) on SIGTERM; an ``atexit`` hook removes any still registered, and
  the next write of the same file removes those of a writer killed outright (their names carry its process id).
"""
from __future__ import annotations

import atexit
import errno
import json
import math
import numbers
import os
import signal
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from zoo.errors import EnvironmentFailure, UserError, write_failure

__all__ = ["atomic_output", "atomic_write_text", "atomic_write_bytes", "check_output_folder", "output_folder",
           "check_outputs", "all_or_nothing", "refuse_empty", "same_file", "refuse_input_as_output", "json_text",
           "atomic_write_json", "live_temporaries"]

_LIVE: set[str] = set()
#: Per open :func:`all_or_nothing` block (innermost last): ``(temporary, target, path)`` of the files waiting in it.
_STAGED: list[list[tuple[str, Path, str]]] = []
#: Per open :func:`all_or_nothing` block (innermost last): the folders its outputs created, outermost first.
_MADE: list[list[Path]] = []


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


def _stat_output(path: str | os.PathLike) -> os.stat_result | None:
    """``stat`` of the output ``path`` (None when missing); an error (a file on the way, a folder that may not be
    searched) names ``path``. An empty path is refused: it would be the current folder."""
    refuse_empty(path)
    try:
        return _stat(Path(path))
    except OSError as err:
        raise write_failure(err, path) from None


def refuse_empty(path: str | os.PathLike) -> None:
    """Refuse an empty output path (``-o "$OUT"`` with ``OUT`` unset), which would otherwise mean the current
    folder: the one check every command's output goes through."""
    if os.fspath(path) in ("", b""):
        raise UserError("the output path is empty (an unset shell variable?); give a file or folder name")


def _make_folders(folder: Path, path: str | os.PathLike) -> list[Path]:
    """Create ``folder`` and the missing folders above it (for the output ``path``, which errors name); return
    those created, outermost first, for :func:`_unmake` to remove if the output is not written."""
    missing: list[Path] = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    made: list[Path] = []
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
        for f in reversed(missing):
            try:
                os.mkdir(f)
            except FileExistsError:  # made meanwhile by someone else: theirs, not ours to remove
                if not f.is_dir():
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None
                continue
            except OSError as err:
                raise write_failure(err, path, f.parent) from None
            made.append(f)
    except BaseException:
        _unmake(made)
        raise
    return made


def _unmake(made: list[Path]) -> None:
    """Remove the folders of ``made`` (outermost first) that are still empty, innermost first."""
    for f in reversed(made):
        try:
            os.rmdir(f)
        except OSError:
            pass


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
def _naming(path: str | os.PathLike, target: Path) -> Iterator[None]:
    """An OSError raised while writing ``target`` (a full disk, a read-only folder, a special file system) is
    :func:`zoo.errors.write_failure`'s sentence about the output the user gave, ``path``, never about a temporary
    file of it. A broken pipe (the reader of a FIFO output has gone) stays one, for the CLI to stop quietly."""
    try:
        yield
    except OSError as err:
        temporary = err.filename is not None and os.path.basename(os.fsdecode(err.filename)).startswith(
            f".{target.name}.") and os.fsdecode(err.filename).endswith(".tmp")
        if err.errno is None or isinstance(err, EnvironmentFailure) or not (err.filename is None or temporary):
            raise  # not about this output (an input that failed to read names itself already)
        if isinstance(err, BrokenPipeError):
            err.filename, err.filename2 = os.fspath(path), None
            raise
        raise write_failure(err, path, target.parent) from err


def _refuse(path: str | os.PathLike, st: os.stat_result | None) -> None:
    """Refuse to write ``path`` (whose ``stat`` is ``st``, None when missing) when it is a folder, a socket or
    block device, or an existing file the user may not write."""
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"output {str(path)!r} is a folder; give a file name inside it")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise UserError(f"output {str(path)!r} is a socket or block device, not a file genozoo can write; "
                        "give a regular file")
    if stat.S_ISREG(st.st_mode) and not os.access(path, os.W_OK):
        raise write_failure(PermissionError(errno.EACCES, "Permission denied", str(path)), path)


def _check_folder(path: str | os.PathLike, folder: Path | None = None) -> None:
    """Refuse ``path`` when its folder (``folder``, default the one ``path`` is in) cannot be created or written
    into: the nearest existing folder is a file (status 2), or is read-only or not the user's to write (status
    1). The error names ``path``."""
    folder = Path(os.path.realpath(path)).parent if folder is None else Path(os.path.realpath(folder))
    while not os.path.lexists(folder):
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        code = errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
        raise write_failure(OSError(code, os.strerror(code), str(path)), path)


def check_outputs(outputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse, before minutes of computing, the output files of one command that cannot all be written:
    ``outputs`` maps what each is (``"the logo (-o)"``) to its path (``None``: not asked for). Two paths naming
    the same file, a folder, a file or folder the user may not write, and a folder under a file are refused with
    one sentence naming the path the user gave."""
    seen: dict[object, str] = {}
    for what, path in outputs.items():
        if path is None:
            continue
        st = _stat_output(path)
        _refuse(path, st)
        key = (st.st_dev, st.st_ino) if st is not None else os.path.realpath(path)
        if key in seen:
            raise UserError(f"{str(path)!r} is both {seen[key]} and {what}; give each output its own file")
        seen[key] = what
        if st is None or stat.S_ISREG(st.st_mode):  # devices and FIFOs are written through, not beside
            _check_folder(path)


def same_file(output: str | os.PathLike, source: str | os.PathLike) -> bool:
    """Whether the output ``output`` would be the input file ``source`` (same inode, or the same real path): writing
    it would destroy the input. Standard input/output (``-``) and paths that do not exist yet never are."""
    if os.fspath(output) == "-" or os.fspath(source) == "-":
        return False
    try:
        a, b = os.stat(output), os.stat(source)
    except (OSError, ValueError):
        return os.path.realpath(output) == os.path.realpath(source) if os.path.lexists(source) else False
    if stat.S_ISCHR(a.st_mode) or stat.S_ISFIFO(a.st_mode):  # /dev/null as both: nothing to destroy
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def refuse_input_as_output(outputs: Mapping[str, str | os.PathLike | None], source: str | os.PathLike,
                           what: str = "the input") -> None:
    """Refuse, before any work, an output of ``outputs`` (what it is -> path) that is the input file ``source``."""
    for name, path in outputs.items():
        if path is not None and same_file(path, source):
            raise UserError(f"{str(path)!r} is both {what} and {name}; writing it would destroy the input, so give "
                            "the output another name")


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """The files :func:`atomic_output` writes inside the block appear together when it ends without an
    exception, and none of them otherwise (a failure of the last output leaves not even the first): each waits
    as its temporary file and is renamed over its target at the end. Devices and FIFOs, written through, do not
    wait. In an enclosing block the files wait for that one."""
    staged: list[tuple[str, Path, str]] = []
    made: list[Path] = []
    _STAGED.append(staged)
    _MADE.append(made)
    try:
        try:
            yield
        finally:
            _STAGED.pop()
            _MADE.pop()
        if _STAGED:
            _STAGED[-1].extend(staged)
            _MADE[-1].extend(made)
            staged.clear()
            made.clear()
        while staged:
            tmp, target, path = staged[0]
            with _naming(path, target):
                os.replace(tmp, target)
            staged.pop(0)
            _LIVE.discard(tmp)
        made.clear()  # every output is in place: the folders stay
    finally:
        for tmp, _, _ in staged:
            _remove(tmp)
        _unmake(made)


def _remove(tmp: str) -> None:
    """Remove a temporary file (gone already is fine) and stop tracking it."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    _LIVE.discard(tmp)


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                  newline: str | None = None) -> Iterator[IO]:
    """A file object for ``path`` (``mode`` ``"w"`` or ``"wb"``) that becomes ``path`` only when the block ends
    without an exception; see the module docstring for links, devices and FIFOs."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output writes with mode 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    kwargs = {} if binary else {"encoding": encoding, "newline": newline}
    refuse_empty(path)  # Path("") is the current folder
    target = Path(path)
    st = _stat_output(target)
    _refuse(path, st)
    if st is not None and not stat.S_ISREG(st.st_mode):
        with _naming(path, target), open(target, mode, **kwargs) as fh:  # written through: it stays what it is
            yield fh
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # replace the file the link points to, not the link
    made = _make_folders(target.parent, path)
    if _STAGED:  # they go with the block's outputs: kept when all are written, removed when none is
        _MADE[-1].extend(made)
        made = []
    _sweep_stale(target)
    fd, tmp = -1, None
    try:
        with _naming(path, target):
            with _signals_held():  # a SIGTERM between creating the file and registering it would leave it behind
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.",
                                           suffix=".tmp")
                _LIVE.add(tmp)
            # mkstemp makes 0600 files; give the output the mode a plain open() would (or the old file's).
            os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else _FILE_MODE)
            with os.fdopen(fd, mode, **kwargs) as fh:
                fd = -1
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            if _STAGED:  # renamed with the other outputs of the all_or_nothing block, or removed
                _STAGED[-1].append((tmp, target, os.fspath(path)))
                tmp = None
            else:
                os.replace(tmp, target)
            made = []  # the output is written (or waits in its block): its folders stay
    finally:
        if fd != -1:
            os.close(fd)
        if tmp is not None:
            _remove(tmp)
        _unmake(made)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_output(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path, "wb") as fh:
        fh.write(data)


def json_text(obj: Any, *, indent: int | None = 1, sort_keys: bool = False,
              default: Callable[[Any], Any] | None = None) -> str:
    """``obj`` as strict JSON (RFC 8259), the one way genozoo writes or prints metrics: a float (Python's or
    numpy's) that is NaN or infinite (an undefined score, e.g. AUROC of a split with one class) becomes ``null``,
    which every JSON reader accepts, instead of Python's ``NaN`` / ``Infinity``, which most refuse. ``default``
    converts other objects, as in :func:`json.dumps`."""
    def clean(x: Any) -> Any:
        if isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral):
            return float(x) if math.isfinite(x) else None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    convert = None if default is None else (lambda x: clean(default(x)))
    return json.dumps(clean(obj), indent=indent, sort_keys=sort_keys, default=convert, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj: Any, **how: Any) -> None:
    """Write ``obj`` to ``path`` as strict JSON (:func:`json_text`, with its options ``how``) and a final newline,
    atomically."""
    atomic_write_text(path, json_text(obj, **how) + "\n")


def check_output_folder(path: str | os.PathLike) -> Path:
    """Refuse, before minutes of computing, ``path`` as a folder to write into (created with any missing folders
    above it when written, as an output file's are): something else (a file, a device) there already, a file on
    the way (status 2), or a folder that cannot be written or created into (status 1)."""
    refuse_empty(path)  # Path("") is the current folder
    p = Path(path)
    st = _stat_output(p)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise UserError(f"output {str(path)!r} exists and is not a folder; give a new or existing folder")
    _check_folder(path, p)
    return p


def output_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to write into: created (with the missing folders above it) if missing; a file (or
    anything else) there is refused."""
    p = check_output_folder(path)
    _make_folders(p, path)
    return p
