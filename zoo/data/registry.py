"""The benchmark catalogue: one :class:`BenchmarkInfo` record per benchmark and the functions that find them.

A benchmark is registered once with :func:`register_benchmark`: its metadata (task, classes, length, size,
license, citation, split protocol, source URLs with pinned sha256) and a ``build`` function turning resolved files
into a ``DatasetDict``. Families with one entry per upstream task (``motif/<experiment>``, ``gb/<name>``,
``gue/<task>``, ``nt/<task>``) register a *factory* for their prefix, so any experiment name works, and list their
known members. :func:`list_benchmarks` is the single catalogue; :func:`get_benchmark` the single door in (names are
case-insensitive; unknown names raise :class:`UnknownBenchmarkError` with close matches). :func:`register_alias` lets
a short name stand for a benchmark: the published models' tags (``motif_ctcf``) name the data they were trained on.
"""
from __future__ import annotations

import difflib
import fnmatch
from pathlib import PurePath
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Optional

from zoo.data.sources import SourceFile
from zoo.errors import UserError

__all__ = ["BenchmarkInfo", "Benchmark", "UnknownBenchmarkError", "register_benchmark", "register_family",
           "register_alias", "get_benchmark", "list_benchmarks", "benchmark_info", "STUDY_CITATION"]

#: Extensions of the data files :func:`zoo.data.from_files` reads: a name ending in one is a path, not a benchmark.
DATA_FILE_SUFFIXES = frozenset({".fa", ".fasta", ".fna", ".fas", ".gz", ".csv", ".tsv", ".tab", ".txt", ".data",
                                ".seq"})

STUDY_CITATION = ("Zhang, Cheng & Solis-Lemus (2022). Towards a robust out-of-the-box neural network model for "
                  "genomic data. BMC Bioinformatics 23:125. doi:10.1186/s12859-022-04660-8.")


class UnknownBenchmarkError(UserError, KeyError):
    """The name is not a registered benchmark."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class BenchmarkInfo:
    """Metadata of one benchmark (the single source for ``genozoo data list/info`` and the dataset card)."""

    name: str
    task: str
    description: str
    classes: Optional[tuple[str, ...]]
    length: Any  # int, or "variable", or None when unknown
    size: Optional[int]
    license: str
    citation: str
    split_protocol: str
    sources: tuple[SourceFile, ...] = ()
    homepage: str = ""
    family: str = "study"
    protocols: tuple[str, ...] = ("default",)
    hub_repo: Optional[str] = None
    notes: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sources"] = [s.to_dict() for s in self.sources]
        return d


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: metadata plus how to get its files and build it.

    ``resolve(bench, source, cache_dir, revision, progress) -> (files, key)`` returns the files (role -> ``Path`` or
    ``None`` when absent) and a string that identifies the exact inputs for the Arrow cache (``None``: do not
    cache); without one, :func:`zoo.data.load_benchmark` fetches the pinned sources itself (and records the sha256
    of each file read for the dataset card).
    ``build(files, **options) -> (DatasetDict, protocol_text)``.
    """

    info: BenchmarkInfo
    build: Callable[..., Any]
    resolve: Optional[Callable[..., tuple]] = None
    defaults: Mapping[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, Benchmark] = {}
_FAMILIES: dict[str, tuple[Callable[[str], Benchmark], Callable[[], list[str]]]] = {}
_ALIASES: dict[str, str] = {}


def register_benchmark(bench: Benchmark, overwrite: bool = False) -> Benchmark:
    key = bench.info.name.lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"benchmark {bench.info.name!r} is already registered")
    _REGISTRY[key] = bench
    return bench


def register_family(prefix: str, factory: Callable[[str], Benchmark], members: Callable[[], list[str]]) -> None:
    """``prefix/<member>`` names are built by ``factory(member)``; ``members()`` lists the known ones."""
    _FAMILIES[prefix.lower()] = (factory, members)


def register_alias(alias: str, name: str) -> None:
    """``alias`` (case-insensitive) stands for the benchmark ``name`` in :func:`get_benchmark`."""
    _ALIASES[alias.lower()] = name


def _all_names() -> list[str]:
    names = [b.info.name for b in _REGISTRY.values()]
    for prefix, (_, members) in _FAMILIES.items():
        names += [f"{prefix}/{m}" for m in members()]
    return names


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (case-insensitive; ``family/member`` for the families)."""
    key = name.strip().lower()
    if key in _ALIASES:
        return get_benchmark(_ALIASES[key])
    if key in _REGISTRY:
        return _REGISTRY[key]
    if "/" in key:
        prefix, member = name.strip().split("/", 1)
        if prefix.lower() in _FAMILIES and member:
            factory, members = _FAMILIES[prefix.lower()]
            known = {m.lower(): m for m in members()}
            return factory(known.get(member.lower(), member))
    if PurePath(key).suffix in DATA_FILE_SUFFIXES or key.startswith(("/", ".", "~")) or key.endswith("/"):
        # A path (a data file's extension, or a folder) that does not exist, not a misspelt benchmark.
        raise UserError(f"data file or folder {name!r} does not exist; check the path")
    close = difflib.get_close_matches(key, [n.lower() for n in _all_names()] + list(_ALIASES), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `genozoo data list` to see them"
    raise UnknownBenchmarkError(f"unknown benchmark {name!r}{hint}")


def benchmark_info(name: str) -> BenchmarkInfo:
    return get_benchmark(name).info


def list_benchmarks(pattern: str = "*", family: Optional[str] = None) -> list[BenchmarkInfo]:
    """Metadata of every benchmark whose name matches the glob ``pattern`` (and ``family`` if given)."""
    out = []
    for name in _all_names():
        if not fnmatch.fnmatch(name.lower(), pattern.lower()):
            continue
        info = get_benchmark(name).info
        if family is None or info.family == family:
            out.append(info)
    return out
