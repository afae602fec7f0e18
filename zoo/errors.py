"""The one error rule of genozoo, for every entry point (CLI, Python API, space).

* A mistake the user can fix (a bad sequence, file, option or model name) is a :class:`UserError` carrying one
  sentence that names the input and says what to do; the CLI prints it and exits with status 2.
* A failure of the environment (permissions, a full disk, a read-only file system, a missing device, memory, an
  unreachable host) is one sentence too, exit status 1: :func:`classify` turns ``OSError`` / ``MemoryError`` into
  it, naming the file; an error class that is also a :class:`UserError` (to keep its family's ``except``) but
  derives from :class:`EnvironmentFailure` counts as the environment's.
* Anything else is a genuine bug and keeps its traceback (as does everything under ``genozoo --debug``).

:func:`classify` is the single place that decides, so the space and the CLI report the same failure alike.
"""
from __future__ import annotations

import errno
import os
from typing import Optional, Tuple

__all__ = ["UserError", "EnvironmentFailure", "NetworkFailure", "Terminated", "os_error_sentence", "classify",
           "OPTIONAL_EXTRAS", "missing_extra",
           "read_failure", "write_failure", "write_error", "USER_STATUS", "ENVIRONMENT_STATUS"]

USER_STATUS, ENVIRONMENT_STATUS = 2, 1


class UserError(ValueError):
    """Bad input from the user (sequence, file, model name, option): the message says what and what to do."""


class EnvironmentFailure(OSError):
    """The machine, not the input, failed (permissions, disk, device); the message is one sentence. Exit 1."""


class NetworkFailure(EnvironmentFailure):
    """A host could not be reached (connection refused, name not resolved, timed out, connection dropped): the
    network's fault, not the input's, so exit 1. A 404 for something that does not exist stays a UserError."""


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread so ``finally`` blocks remove temporary files (exit 143)."""


# Errors of the *path the user typed*: a fix of the command line, not of the machine.
_USER_ERRNOS = {errno.ENOENT: "does not exist; check the path",
                errno.ENOTDIR: "goes through something that is not a folder; check the path",
                errno.EISDIR: "is a folder; give a file name",
                errno.ENAMETOOLONG: "is too long a name for the file system; use a shorter path",
                errno.EEXIST: "already exists; remove it or choose another name",
                errno.ELOOP: "is a loop of symbolic links; check the path",
                errno.ENXIO: "is a socket or a device without a reader; give a regular file"}
_ENV_HINTS = {errno.EACCES: "permission denied; check the file's and folder's permissions",
              errno.EPERM: "operation not permitted; check the file's and folder's permissions",
              errno.EROFS: "the file system is read-only; write somewhere else",
              errno.ENOSPC: "no space left on the device; free some space or write somewhere else",
              errno.EDQUOT: "the disk quota is exceeded; free some space or write somewhere else",
              errno.EFBIG: "the file is larger than this system allows (a file-size limit, see ulimit -f); raise "
                           "the limit or write somewhere else",
              errno.EIO: "an input/output error of the device; check the disk",
              errno.ENODEV: "no such device; check that it is present",
              errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
              errno.ETXTBSY: "the file is busy; retry when it is free"}


def os_error_sentence(err: OSError) -> Tuple[str, int]:
    """``(sentence, exit status)`` for an ``OSError``: the file it concerns, what went wrong and what to do."""
    name = err.filename if err.filename is not None else None
    where = f"{os.fsdecode(name)!r}" if name is not None else "a file"
    if err.filename2 is not None:
        where += f" -> {os.fsdecode(err.filename2)!r}"
    if err.errno in _USER_ERRNOS:
        return f"{where} {_USER_ERRNOS[err.errno]}", USER_STATUS
    hint = _ENV_HINTS.get(err.errno or -1) or (err.strerror or str(err) or type(err).__name__).rstrip(".")
    return f"cannot use {where}: {hint}", ENVIRONMENT_STATUS


def _failure(err: OSError, sentence: str) -> "EnvironmentFailure":
    failure = EnvironmentFailure(sentence)
    failure.errno = err.errno  # str() stays the sentence: an OSError without strerror prints its message
    return failure


def read_failure(err: OSError, name: str) -> OSError:
    """The error to raise for ``err``, raised while opening or reading the input the user calls ``name`` (a
    quoted path, or "<stdin>"): every read error names the file. A mistake in the path (missing, a folder, ...)
    is a :class:`UserError` naming the file (status 2); anything else (permissions, a device that fails to read, such
    as ``/proc/self/mem``) is one sentence "cannot read NAME: why" (status 1)."""
    if err.errno in _USER_ERRNOS:
        return UserError(f"{name} {_USER_ERRNOS[err.errno]}")
    if err.errno == errno.EIO:
        why = "an input/output error while reading it (a failing disk, or a special file that cannot be read " \
              "as text); give a regular file"
    else:
        why = _ENV_HINTS.get(err.errno or -1) or (err.strerror or str(err) or type(err).__name__).rstrip(".")
    return _failure(err, f"cannot read {name}: {why}")


def write_failure(err: OSError, path: str | os.PathLike, folder: str | os.PathLike | None = None) -> OSError:
    """The error to raise for ``err``, raised while creating the output ``path`` (its folders, its file) or
    writing it: a mistake in the path the user typed (something that is not a folder on the way, a name too long,
    a loop of links) keeps its errno and names ``path`` (status 2); anything else is the environment's, one
    sentence "cannot write PATH: why" (status 1): permissions, a read-only file system, a full disk, and a folder
    that takes no new files (``ENOENT`` once the folders exist: ``/proc``, ``/sys``; ``folder`` names it)."""
    shown = os.fsdecode(os.fspath(path))
    if err.errno in _USER_ERRNOS and err.errno != errno.ENOENT:
        return OSError(err.errno, err.strerror or os.strerror(err.errno), shown)  # its subclass, naming path
    if err.errno == errno.ENOENT:
        where = repr(os.fsdecode(os.fspath(folder))) if folder is not None else "its folder"
        why = (f"no file can be created in {where} (a special file system such as /proc or /sys, or a folder "
               "removed meanwhile); write somewhere else")
    else:
        why = _ENV_HINTS.get(err.errno or -1) or (err.strerror or str(err) or type(err).__name__).rstrip(".")
    return _failure(err, f"cannot write {shown!r}: {why}")


def write_error(err: OSError, path: str | os.PathLike, folder: str | os.PathLike | None = None) -> Exception:
    """:func:`write_failure` for the Python API, where every error is a genozoo one: a mistake in the path
    (something that is not a folder on the way, a name too long, ...) is a :class:`UserError` "cannot write PATH:
    why" (status 2) instead of the bare ``OSError`` the CLI's :func:`classify` words; anything else is the
    :class:`EnvironmentFailure` of :func:`write_failure` (status 1)."""
    failure = write_failure(err, path, folder)
    if isinstance(failure, EnvironmentFailure) or failure.errno not in _USER_ERRNOS:
        return failure
    error = UserError(f"cannot write {os.fsdecode(os.fspath(path))!r}: it {_USER_ERRNOS[failure.errno]}")
    error.errno = failure.errno  # what went wrong, for a caller that tells the cases apart
    return error


#: The optional dependencies of genozoo and the extra that installs each (pyproject.toml's optional-dependencies).
OPTIONAL_EXTRAS = {"gradio": "space", "gradio_client": "space", "uvloop": "space", "httptools": "space",
                   "captum": "explain", "logomaker": "explain", "pyjaspar": "explain", "gensim": "nlp"}


def missing_extra(exc: BaseException) -> Optional[str]:
    """The sentence for an optional dependency that is not installed (``ModuleNotFoundError`` of a module of
    :data:`OPTIONAL_EXTRAS`), naming the extra that brings it, or ``None``."""
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    top = (name or "").split(".")[0]
    if top not in OPTIONAL_EXTRAS:
        return None
    extra = OPTIONAL_EXTRAS[top]
    return (f"this needs {top}, which is not installed: it comes with genozoo's optional '{extra}' extra "
            f"(pip install 'genozoo[{extra}]')")


def classify(exc: BaseException) -> Optional[Tuple[str, int]]:
    """``(one sentence, exit status)`` for an error a user may see, or ``None`` for a genuine bug."""
    if (sentence := missing_extra(exc)) is not None:  # the installation's, not the input's: status 1
        return sentence, ENVIRONMENT_STATUS
    if isinstance(exc, EnvironmentFailure):  # first: it may also be a UserError of its family (HubError)
        return str(exc), ENVIRONMENT_STATUS
    if isinstance(exc, UserError):
        return str(exc), USER_STATUS
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_error_sentence(exc)
    if isinstance(exc, MemoryError):
        return ("ran out of memory; use a smaller input, batch size or model, or a machine with more memory",
                ENVIRONMENT_STATUS)
    return None
