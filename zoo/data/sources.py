"""Where benchmark files come from: download from the original URL, verify the pinned sha256, cache atomically.

Owns the raw-file cache (``<cache>/downloads/<sha256>/<name>``; files without a pinned checksum go under
``url-<hash of URL>`` with their computed sha256 beside them), offline mode and mirrors:

* The cache root is ``cache_dir``, else ``$GENOZOO_CACHE/data``, else ``$XDG_CACHE_HOME/genozoo/data``
  (``~/.cache/genozoo/data``).
* ``HF_HUB_OFFLINE=1`` (or ``HF_DATASETS_OFFLINE=1``) means nothing is fetched: a file not in the cache is an
  :class:`OfflineError` that says to pass ``source=`` or go online.
* ``GENOZOO_DATA_MIRROR=http://host:port`` fetches every URL from that host instead, same path (institutional
  mirrors, and the loopback server of the tests).

A download streams into a hidden temporary file in the destination folder while hashing; only a complete file
whose sha256 matches is moved into place (``os.replace``). Anything else (checksum mismatch, short read,
connection error, Ctrl-C) deletes the temporary file, so the cache never holds a partial or wrong file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from zoo.errors import NetworkFailure, UserError

__all__ = ["SourceFile", "ChecksumError", "DownloadError", "UnreachableError", "OfflineError", "cache_root",
           "is_offline", "mirror_url", "fetch", "sha256_file", "find_local", "fetch_listing"]

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    """One file of a benchmark: its original URL, pinned sha256 (``None``: not verified), and its path inside a
    local copy of the benchmark (``source=`` folders are searched for it)."""

    url: str
    sha256: Optional[str] = None
    path: str = ""
    size: Optional[int] = None

    @property
    def name(self) -> str:
        return self.path or Path(urllib.parse.urlparse(self.url).path).name

    def to_dict(self) -> dict:
        return asdict(self)


class DownloadError(UserError):
    """A download failed or was cut short; nothing was cached."""


class UnreachableError(DownloadError, NetworkFailure):
    """The download host could not be reached (refused, not resolved, timed out, hung up); nothing was cached.
    The network's fault, not the input's: exit status 1."""


class ChecksumError(DownloadError):
    """A downloaded file does not match its pinned sha256; nothing was cached."""


class OfflineError(UserError):
    """A file is needed that is not cached, and offline mode forbids fetching it."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("GENOZOO_CACHE"):
        return Path(os.environ["GENOZOO_CACHE"]) / "data"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genozoo" / "data"


def is_offline() -> bool:
    truthy = {"1", "true", "yes", "on"}
    return any(os.environ.get(v, "").strip().lower() in truthy for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def mirror_url(url: str) -> str:
    """``url`` with scheme and host replaced by ``$GENOZOO_DATA_MIRROR`` when set (path and query kept)."""
    mirror = os.environ.get("GENOZOO_DATA_MIRROR", "").strip()
    if not mirror:
        return url
    src, dst = urllib.parse.urlsplit(url), urllib.parse.urlsplit(mirror.rstrip("/"))
    return urllib.parse.urlunsplit((dst.scheme, dst.netloc, dst.path + src.path, src.query, ""))


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _cache_path(src: SourceFile, root: Path) -> Path:
    key = src.sha256 if src.sha256 else "url-" + hashlib.sha256(src.url.encode()).hexdigest()[:20]
    return root / "downloads" / key / Path(urllib.parse.urlparse(src.url).path).name


def _progress(total: Optional[int], desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not enabled, leave=False)


def fetch(src: SourceFile, cache_dir: str | os.PathLike | None = None, *, offline: Optional[bool] = None,
          progress: bool = True, timeout: float = 60.0) -> Path:
    """The cached path of ``src``, downloading and verifying it first when it is not cached."""
    root = cache_root(cache_dir)
    dest = _cache_path(src, root)
    if dest.is_file():
        return dest
    if is_offline() if offline is None else offline:
        raise OfflineError(f"{src.url} is not in the cache {str(root)!r} and offline mode (HF_HUB_OFFLINE=1) "
                           "forbids downloading it; pass --source PATH (source=) to a local copy or unset "
                           "HF_HUB_OFFLINE")
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = mirror_url(src.url)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "genozoo"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                with _progress(total, dest.name, progress) as bar:
                    while True:
                        block = resp.read(_CHUNK)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        received += len(block)
                        bar.update(len(block))
            if total is not None and received != total:
                raise DownloadError(f"download of {url} stopped after {received} of {total} bytes; nothing was "
                                    "cached; try again")
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if src.sha256 and digest != src.sha256:
            raise ChecksumError(f"{url} has sha256 {digest}, not the pinned {src.sha256}; the file is corrupt or "
                                "changed upstream, so nothing was cached (retry, or pass --source PATH (source=) to a "
                                "copy you trust)")
        if not src.sha256:
            log.warning("%s has no pinned sha256 (unverified); recorded %s", src.url, digest)
            _atomic_write_text(dest.with_name(dest.name + ".sha256"), digest + "\n")
        os.replace(tmp, dest)
    except urllib.error.HTTPError as e:
        _unlink(tmp)
        raise DownloadError(f"could not download {url}: HTTP {e.code} {e.reason}; nothing was cached") from None
    except (urllib.error.URLError, OSError) as e:
        _unlink(tmp)
        if isinstance(e, DownloadError):
            raise
        reason = getattr(e, "reason", e)
        raise UnreachableError(f"could not download {url} ({reason}); check the connection, or pass --source "
                               "PATH (source=) to a local copy") from None
    except BaseException:
        _unlink(tmp)
        raise
    return dest


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def find_local(source: str | os.PathLike, src: SourceFile, *, required: bool = True) -> Optional[Path]:
    """Find ``src`` in a local ``source``: the file itself, or inside a folder by its path or file name
    (a ``.gz`` variant counts)."""
    base = Path(source)
    if base.is_file():
        return base
    if not base.is_dir():
        raise UserError(f"source {str(base)!r} is neither a file nor a folder; check the path")
    rel = src.path or src.name
    candidates = [base / rel, base / Path(rel).name]
    for c in list(candidates):
        candidates.append(c.with_name(c.name + ".gz"))
    for c in candidates:
        if c.is_file():
            return c
    if required:
        raise UserError(f"source folder {str(base)!r} has no {rel!r} (looked for {Path(rel).name} and .gz); "
                        "pass the folder that holds it")
    return None


_HREF = re.compile(r'href="([^"?#/][^"?#]*?)/?"', re.I)


def fetch_listing(url: str, cache_dir: str | os.PathLike | None = None, *, offline: Optional[bool] = None,
                  timeout: float = 60.0) -> list[str]:
    """Sub-folder names linked from an HTML directory listing (the page is cached, unverified)."""
    url = url if url.endswith("/") else url + "/"
    dest = cache_root(cache_dir) / "downloads" / ("url-" + hashlib.sha256(url.encode()).hexdigest()[:20]) / "index.html"
    if not dest.is_file():
        if is_offline() if offline is None else offline:
            raise OfflineError(f"the listing {url} is not in the cache and offline mode (HF_HUB_OFFLINE=1) "
                               "forbids downloading it; pass --source PATH (source=) to a local copy or unset "
                               "HF_HUB_OFFLINE")
        try:
            req = urllib.request.Request(mirror_url(url), headers={"User-Agent": "genozoo"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise DownloadError(f"could not download the listing {url}: HTTP {e.code} {e.reason}; pass "
                                "--source PATH (source=) to a local copy") from None
        except (urllib.error.URLError, OSError) as e:
            raise UnreachableError(f"could not download the listing {url} ({getattr(e, 'reason', e)}); check the "
                                   "connection, or pass --source PATH (source=) to a local copy") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(dest, body.decode("utf-8", errors="replace"))
    names = []
    for href in _HREF.findall(dest.read_text(errors="replace")):
        name = urllib.parse.unquote(href.rstrip("/"))
        if "/" in name or ":" in name or "." in name:
            continue
        if name not in names:
            names.append(name)
    return names
