"""The single door in: :func:`load_benchmark` resolves files (local ``source``, download cache, or the Hub),
builds the ``DatasetDict`` and caches it as Arrow.

Arrow cache: ``<cache>/arrow/<name>/<key>/`` written with ``DatasetDict.save_to_disk`` into a temporary folder
and moved into place with ``os.replace``, so a reader never sees half a cache entry. The key hashes the name, the
options, the pinned sources (URL + sha256) or the resolved Hub commit, and :data:`CACHE_VERSION` (bumped when a
builder changes what it produces). A local ``source`` is never cached (it is read fresh every time).

What was read: for the benchmark's own source files, the sha256 of the bytes each was built from (a local copy's as
hashed when it is checked, a verified download's pin) goes into every split's ``DatasetInfo.download_checksums``
(keyed by the source's URL), where the dataset card reads it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

from zoo.data.registry import Benchmark, get_benchmark
from zoo.data.sources import cache_root, fetch, find_local, sha256_file
from zoo.errors import UserError

__all__ = ["load_benchmark", "CACHE_VERSION", "arrow_cache_dir"]

CACHE_VERSION = 2  # 2: the Arrow data records the sha256 of the files read


def _default_resolve(bench: Benchmark, source, cache_dir, revision,
                     progress) -> tuple[dict, Optional[str], dict[str, dict]]:
    """The benchmark's source files (role -> path, ``None`` when absent), no cache key of its own, and what was read:
    ``{url: {"checksum": sha256}}`` of each file used, for ``DatasetInfo.download_checksums``."""
    if revision is not None:
        raise UserError(f"{bench.info.name} is downloaded from its original URL, which has no revisions; drop "
                        "revision=")
    files: dict[str, Any] = {}
    read: dict[str, dict] = {}
    single_file = source is not None and Path(source).is_file()
    for src in bench.info.sources:
        role = Path(src.name).name
        if single_file:
            # One file stands for a one-file benchmark, or for the source file of the same name.
            match = len(bench.info.sources) == 1 or Path(source).name.removesuffix(".gz") == role
            path = Path(source) if match else None
        elif source is not None:
            path = find_local(source, src, required=False)
        else:
            path = fetch(src, cache_dir, progress=progress)
        files[role] = path
        if path is not None:  # a download was verified against its pin when it was cached
            digest = _checked_local(path, src) if source is not None else src.sha256 or sha256_file(path)
            read[src.url] = {"checksum": digest}
    if source is not None and not any(files.values()):
        wanted = ", ".join(s.name for s in bench.info.sources)
        raise UserError(f"source {str(source)!r} holds none of the files of {bench.info.name} ({wanted}); pass the "
                        "file itself or the folder that holds it")
    return files, None, read


def _checked_local(path: Path, src) -> str:
    """The sha256 of a local copy of ``src``, compared with its pinned sha256: a copy that differs is used as given,
    with a warning (the file named by itself or found in a folder alike). A gzipped copy of a plain file is hashed
    by its content, as the pin is of the plain file."""
    if src.name.endswith(".gz"):
        digest = sha256_file(path)
    else:
        from zoo.data.textio import open_binary

        h = hashlib.sha256()
        with open_binary(path) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
    if src.sha256 and digest != src.sha256:
        import logging

        logging.getLogger(__name__).warning("%s differs from the pinned %s (sha256); using it as given", path,
                                            src.url)
    return digest


def _static_key(bench: Benchmark, options: dict) -> Optional[str]:
    if bench.info.hub_repo:
        return None  # known only once the Hub revision is resolved
    blob = json.dumps({"name": bench.info.name, "v": CACHE_VERSION, "options": options,
                       "sources": [[s.url, s.sha256] for s in bench.info.sources]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def arrow_cache_dir(name: str, key: str, cache_dir=None) -> Path:
    safe = name.lower().replace("/", "__")
    return cache_root(cache_dir) / "arrow" / safe / key


@contextlib.contextmanager
def datasets_progress(show: bool = True) -> Iterator[None]:
    """``datasets``' progress bars (map, save) off for the block unless ``show``; its switches are global, so they
    are put back as they were."""
    import datasets as ds_tqdm

    quiet = not show and not ds_tqdm.are_progress_bars_disabled()
    if quiet:
        ds_tqdm.disable_progress_bars()
    try:
        yield
    finally:
        if quiet:
            ds_tqdm.enable_progress_bars()


def _save_atomically(dd, dest: Path, progress: bool = True) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        with datasets_progress(progress):
            dd.save_to_disk(str(tmp))
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.exists():  # another process won the race with the same content: keep theirs
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _describe(dd, bench: Benchmark, protocol_text: str, provenance: str, read: Optional[dict]) -> None:
    info = bench.info
    for split, ds in dd.items():
        ds.info.download_checksums = read
        ds.info.description = (f"genozoo benchmark {info.name} ({split} split). {info.description} Split: "
                               f"{protocol_text}. Source: {provenance}.")
        ds.info.citation = info.citation
        ds.info.homepage = info.homepage
        ds.info.license = info.license


def load_benchmark(name: str, *, source: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                   revision: Optional[str] = None, protocol: Optional[str] = None, seed: Optional[int] = None,
                   ambiguity: Optional[str] = None, progress: bool = True, **options):
    """Load a benchmark as a ``datasets.DatasetDict`` with splits ``train``, ``validation`` and ``test``.

    ``source``: a local file or folder holding the benchmark's files (always works, offline too, never cached).
    Otherwise the files are downloaded from their original URLs (or Hub dataset repos at ``revision``), verified
    against pinned sha256 and cached; with ``HF_HUB_OFFLINE=1`` only the cache is used. ``protocol`` picks a split
    protocol the benchmark offers (``genozoo data info NAME``), ``seed`` its seed (default: the study's 3264),
    ``ambiguity`` how IUPAC ambiguity codes are cleaned (``"N"``, ``"splice"`` or ``"keep"``).
    """
    bench = get_benchmark(name)
    opts = dict(bench.defaults)
    opts.update({k: v for k, v in (("protocol", protocol), ("seed", seed), ("ambiguity", ambiguity)) if v is not None})
    opts.update(options)
    if "protocol" in opts and opts["protocol"] not in bench.info.protocols:
        raise UserError(f"{bench.info.name} has the split protocol(s) {', '.join(bench.info.protocols)}, "
                        f"not {opts['protocol']!r}")
    if opts.get("ambiguity") not in (None, "N", "splice", "keep"):
        raise UserError(f"ambiguity must be 'N', 'splice' or 'keep', not {opts['ambiguity']!r}")
    key = None if source is not None else _static_key(bench, opts)
    if key is not None and (arrow_cache_dir(bench.info.name, key, cache_dir) / "dataset_dict.json").is_file():
        import datasets

        return datasets.load_from_disk(str(arrow_cache_dir(bench.info.name, key, cache_dir)))
    read = None  # what was read is known to the default resolver only, which maps the sources to files
    if bench.resolve is None:
        files, resolved_key, read = _default_resolve(bench, source, cache_dir, revision, progress)
    else:
        files, resolved_key = bench.resolve(bench, source, cache_dir, revision, progress)
    if source is None and key is None and resolved_key is not None:
        key = hashlib.sha256(json.dumps([resolved_key, opts, CACHE_VERSION], sort_keys=True).encode()).hexdigest()[:24]
        cached = arrow_cache_dir(bench.info.name, key, cache_dir)
        if (cached / "dataset_dict.json").is_file():
            import datasets

            return datasets.load_from_disk(str(cached))
    try:
        dd, protocol_text = bench.build(files, **opts)
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise UserError(f"{bench.info.name} does not take the option(s) {', '.join(options) or 'given'}: {e}") \
                from None
        raise
    provenance = f"local {source}" if source is not None else (
        resolved_key or ", ".join(f"{s.url} (sha256 {s.sha256 or 'unverified'})" for s in bench.info.sources))
    _describe(dd, bench, protocol_text, provenance, read)
    if key is not None:
        dest = arrow_cache_dir(bench.info.name, key, cache_dir)
        _save_atomically(dd, dest, progress)
        import datasets

        return datasets.load_from_disk(str(dest))  # memory-mapped, like every later load
    return dd
