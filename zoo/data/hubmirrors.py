"""Adapters for the benchmarks people compare against, read from their Hugging Face Hub dataset repos as plain
files (parquet, CSV, FASTA): no loading scripts, which ``datasets`` 4+ no longer runs.

* ``gb/<name>``: Genomic Benchmarks (Grešová et al. 2023), parquet mirrors ``katarinagresova/Genomic_Benchmarks_<name>``
  (``data/train-*.parquet``, ``data/test-*.parquet``); validation carved from train.
* ``gue/<task>``: GUE of DNABERT-2, ``leannmlindsey/GUE`` (``GUE/<task>/{train,dev,test}.csv``); dev -> validation.
* ``nt/<task>``: the 18 Nucleotide Transformer downstream tasks, ``InstaDeepAI/nucleotide_transformer_downstream_tasks``
  (``<task>/{train,test}.fna``, label after ``|`` in the header); validation carved from train.

Files come through ``huggingface_hub.snapshot_download`` (its cache, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``), at
``revision=`` (default ``main``); the resolved commit is recorded and keys the Arrow cache. Hub LFS files are
content-addressed by sha256 on the Hub; genozoo pins revisions, not per-file checksums, for these mirrors. A
``source=`` folder laid out like the mirror (or holding the files directly) works offline.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from zoo.data.build import DEFAULT_SEED, Columns, clean_sequences, infer_label_names, read_columns, to_dataset_dict
from zoo.data.formats import FormatError, iter_delimited, iter_fasta
from zoo.data.registry import Benchmark, BenchmarkInfo, register_family
from zoo.data.sources import (DownloadError, OfflineError, SourceFile, UnreachableError, cache_root,
                              is_offline)
from zoo.data.splits import carve_validation
from zoo.errors import UserError

__all__ = ["HubMirror", "MIRRORS", "GB_TASKS", "GUE_TASKS", "NT_TASKS", "read_split_files"]

GB_TASKS = ("demo_coding_vs_intergenomic_seqs", "demo_human_or_worm", "drosophila_enhancers_stark",
            "dummy_mouse_enhancers_ensembl", "human_enhancers_cohn", "human_enhancers_ensembl",
            "human_ensembl_regulatory", "human_nontata_promoters", "human_ocr_ensembl")
GUE_TASKS = tuple(f"emp_{m}" for m in ("H3", "H3K14ac", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me3",
                                       "H3K9ac", "H4", "H4ac")) + tuple(f"human_tf_{i}" for i in range(5)) + \
    tuple(f"mouse_{i}" for i in range(5)) + ("prom_300_all", "prom_300_notata", "prom_300_tata", "prom_core_all",
                                             "prom_core_notata", "prom_core_tata", "splice_reconstructed",
                                             "virus_covid")
NT_TASKS = ("H3", "H3K14ac", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me3", "H3K9ac", "H4", "H4ac",
            "enhancers", "enhancers_types", "promoter_all", "promoter_no_tata", "promoter_tata",
            "splice_sites_acceptors", "splice_sites_all", "splice_sites_donors")


@dataclass(frozen=True)
class HubMirror:
    """How one family's Hub repos are laid out: repo per task (``{task}`` in ``repo``) and split file globs."""

    family: str
    repo: str
    splits: tuple[tuple[str, str], ...]  # (split, glob with {task}); split "validation" optional
    members: tuple[str, ...]
    title: str
    citation: str
    license: str
    homepage: str

    def repo_id(self, task: str) -> str:
        return self.repo.format(task=task)

    def patterns(self, task: str) -> dict[str, str]:
        return {split: glob.format(task=task) for split, glob in self.splits}


MIRRORS = {
    "gb": HubMirror(
        "gb", "katarinagresova/Genomic_Benchmarks_{task}",
        (("train", "data/train-*.parquet"), ("test", "data/test-*.parquet")), GB_TASKS, "Genomic Benchmarks",
        "Grešová et al. (2023), Genomic benchmarks: a collection of datasets for genomic sequence classification, "
        "BMC Genomic Data 24:25", "Apache-2.0", "https://github.com/ML-Bioinfo-CEITEC/genomic_benchmarks"),
    "gue": HubMirror(
        "gue", "leannmlindsey/GUE",
        (("train", "GUE/{task}/train.csv"), ("validation", "GUE/{task}/dev.csv"), ("test", "GUE/{task}/test.csv")),
        GUE_TASKS, "GUE (DNABERT-2)",
        "Zhou et al. (2024), DNABERT-2: Efficient Foundation Model and Benchmark for Multi-Species Genome, "
        "ICLR 2024, arXiv:2306.15006", "Apache-2.0 (GUE repository)", "https://github.com/MAGICS-LAB/DNABERT_2"),
    "nt": HubMirror(
        "nt", "InstaDeepAI/nucleotide_transformer_downstream_tasks",
        (("train", "{task}/train.fna"), ("test", "{task}/test.fna")), NT_TASKS,
        "Nucleotide Transformer downstream tasks",
        "Dalla-Torre et al. (2024), The Nucleotide Transformer: building and evaluating robust foundation models "
        "for human genomics, Nature Methods; bioRxiv 2023.01.11.523679",
        "see the Hub dataset card (not verified here)", "https://github.com/instadeepai/nucleotide-transformer"),
}


def _read_parquet(path: Path) -> Columns:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = {c.lower(): c for c in table.column_names}
    seq = next((names[c] for c in ("sequence", "seq", "sequences", "dna") if c in names), None)
    lab = next((names[c] for c in ("label", "labels", "class", "target") if c in names), None)
    if seq is None or lab is None:
        raise FormatError(f"{str(path)!r} needs a sequence and a label column; it has {', '.join(table.column_names)}")
    ident = next((names[c] for c in ("id", "name") if c in names), None)
    seqs = table.column(seq).to_pylist()
    ids = [str(v) for v in table.column(ident).to_pylist()] if ident else [f"{path.stem}-{i}" for i in range(len(seqs))]
    return Columns(id=ids, sequence=seqs, label=[str(v) for v in table.column(lab).to_pylist()])


def read_split_files(paths: list[Path]) -> Columns:
    """Records of one split's files (parquet, CSV/TSV or FASTA with the label in the header), concatenated."""
    out = Columns(id=[], sequence=[], label=[])
    for p in sorted(paths):
        name = p.name.lower().removesuffix(".gz")
        if name.endswith(".parquet"):
            cols = _read_parquet(p)
        elif name.endswith((".csv", ".tsv")):
            cols = read_columns(iter_delimited(p))
        else:
            cols = read_columns(iter_fasta(p))
        out.extend(cols)
    return out


def _local_files(source, patterns: dict[str, str]) -> dict[str, list[Path]]:
    root = Path(source)
    if not root.is_dir():
        raise UserError(f"source {str(root)!r} should be a folder laid out like the Hub mirror")
    files = {}
    for split, pattern in patterns.items():
        found = sorted(root.glob(pattern)) or sorted(root.glob(Path(pattern).name))
        if found:
            files[split] = found
    return files


def _hub_files(repo_id: str, patterns: dict[str, str], revision: Optional[str], cache_dir) -> tuple[dict, str]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = is_offline()
    kw = {} if cache_dir is None else {"cache_dir": str(cache_root(cache_dir) / "hub")}
    try:
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision,
                                        allow_patterns=list(patterns.values()), local_files_only=offline, **kw))
    except LocalEntryNotFoundError:
        if offline:
            raise OfflineError(f"the Hub dataset {repo_id} (revision {revision or 'main'}) is not in the cache and "
                               "offline mode (HF_HUB_OFFLINE=1) forbids downloading it; pass --source PATH "
                               "(source=) or go online") from None
        raise UnreachableError(f"could not reach the Hub for {repo_id}; check the connection or pass --source PATH "
                               "(source=)") from None
    except HfHubHTTPError as e:
        raise DownloadError(f"the Hub refused {repo_id} at revision {revision or 'main'} ({e.__class__.__name__}: "
                            f"{str(e).splitlines()[0]}); check the name and revision") from None
    files = {}
    for split, pattern in patterns.items():
        found = sorted(p for p in folder.rglob("*") if p.is_file()
                       and fnmatch.fnmatch(p.relative_to(folder).as_posix(), pattern))
        if found:
            files[split] = found
    return files, f"{repo_id}@{folder.name}"


def _factory(mirror: HubMirror):
    def make(task: str) -> Benchmark:
        patterns = mirror.patterns(task)
        repo_id = mirror.repo_id(task)

        def resolve(bench, source, cache_dir, revision, progress):
            if source is not None:
                return _local_files(source, patterns), None
            return _hub_files(repo_id, patterns, revision, cache_dir)

        def build(files, protocol: str = "default", seed: int = DEFAULT_SEED, ambiguity: Optional[str] = None,
                  validation_fraction: float = 0.1):
            if "train" not in files or "test" not in files:
                raise UserError(f"{mirror.family}/{task}: the source lacks the train or test files "
                                f"({', '.join(patterns[s] for s in ('train', 'test'))})")
            cols = {split: read_split_files(paths) for split, paths in files.items()}
            for c in cols.values():
                c["sequence"] = clean_sequences(c["sequence"], ambiguity or "N", ids=c["id"])
            names = infer_label_names(v for c in cols.values() for v in c["label"])
            if "validation" in cols:
                text = "the benchmark's own train / validation (dev) / test split"
            else:
                index = {n: i for i, n in enumerate(names)}
                y = [index[str(v)] for v in cols["train"]["label"]]
                tr, va = carve_validation(y, validation_fraction, seed=seed)
                cols["validation"] = cols["train"].take(va)
                cols["train"] = cols["train"].take(tr)
                text = (f"the benchmark's train / test split; validation = {validation_fraction:.0%} of train "
                        f"(stratified, seed {seed})")
            return to_dataset_dict(cols, names, where=f"{mirror.family}/{task}"), text

        info = BenchmarkInfo(
            name=f"{mirror.family}/{task}", task="sequence classification",
            description=f"{mirror.title} task {task}, read from the Hub dataset repo {repo_id}.",
            classes=None, length=None, size=None, license=mirror.license, citation=mirror.citation,
            split_protocol="train / test as published" + ("; dev -> validation" if "validation" in patterns else
                                                          "; validation = 10% of train, stratified, seed 3264"),
            sources=tuple(SourceFile(f"https://huggingface.co/datasets/{repo_id}/resolve/main/{p}", None, p)
                          for p in patterns.values()),
            homepage=mirror.homepage, family=mirror.family, hub_repo=repo_id,
            notes="classes, length and size are read from the data when loaded; pin revision= for reproducibility.")
        return Benchmark(info=info, build=build, resolve=resolve)

    return make


for _fam, _mirror in MIRRORS.items():
    register_family(_fam, _factory(_mirror), lambda m=_mirror: list(m.members))
