"""Benchmarks as datasets: one loader, standard splits, many sources, synthetic data and a quality report.

Every benchmark loads as a ``datasets.DatasetDict`` with splits ``train``, ``validation`` and ``test`` and columns
``sequence`` (str), ``label`` (``ClassLabel`` with names) and ``id``::

    from zoo.data import load_benchmark, list_benchmarks, from_files
    dd = load_benchmark("splice")                       # download, verify sha256, cache as Arrow
    dd = load_benchmark("histone_h3_gue", source="../shared/data/histone/H3")   # a local copy
    mine = from_files("my.fasta", labels="labels.txt")  # your own data, split 70/15/15
    mine = from_files({"A": "a.fa", "B": "b.fa"}, test={"A": "a_test.fa", "B": "b_test.fa"})  # a file per class

Modules: :mod:`~zoo.data.registry` (catalogue and metadata), :mod:`~zoo.data.benchmarks` (the study's benchmarks),
:mod:`~zoo.data.hubmirrors` (Genomic Benchmarks, GUE, Nucleotide Transformer tasks), :mod:`~zoo.data.sources`
(download, verify, cache), :mod:`~zoo.data.formats` (file parsers), :mod:`~zoo.data.build` (records ->
``DatasetDict``, ``from_files``), :mod:`~zoo.data.load` (``load_benchmark``), :mod:`~zoo.data.splits` (split
protocols), :mod:`~zoo.data.synthetic` (planted-motif benchmarks with ground truth), :mod:`~zoo.data.user` (users'
data made ready for fine-tuning), :mod:`~zoo.data.quality` (quality report and dataset card),
:mod:`~zoo.data.transforms` (encoding on the fly, streaming).
"""
import zoo.data.benchmarks  # noqa: F401  (registers the study's benchmarks)
import zoo.data.hubmirrors  # noqa: F401  (registers the Hub mirror families)
from zoo.data.build import from_files
from zoo.data.formats import FormatError, detect_format, iter_records
from zoo.data.load import load_benchmark
from zoo.data.quality import quality_report, report_markdown
from zoo.data.registry import BenchmarkInfo, UnknownBenchmarkError, benchmark_info, list_benchmarks
from zoo.data.sources import ChecksumError, DownloadError, OfflineError, UnreachableError
from zoo.data.splits import SPLITS, carve_validation, paper_splice_split, stratified_split, study_split
from zoo.data.synthetic import PWMS, get_pwm, planted_motif_benchmark, sample_planted
from zoo.data.transforms import StreamingEncodedDataset, encode_collate, iter_encoded_batches

__all__ = [
    "load_benchmark", "list_benchmarks", "benchmark_info", "from_files", "BenchmarkInfo",
    "quality_report", "report_markdown",
    "UnknownBenchmarkError", "ChecksumError", "DownloadError", "OfflineError", "UnreachableError",
    "SPLITS", "stratified_split", "carve_validation", "paper_splice_split", "study_split",
    "PWMS", "get_pwm", "planted_motif_benchmark", "sample_planted",
    "FormatError", "detect_format", "iter_records",
    "encode_collate", "iter_encoded_batches", "StreamingEncodedDataset",
]
