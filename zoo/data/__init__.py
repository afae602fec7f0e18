"""Benchmarks as datasets: one loader, standard splits, many sources, synthetic data and a quality report.

Every benchmark loads as a ``datasets.DatasetDict`` with splits ``train``, ``validation`` and ``test`` and columns
``sequence`` (str), ``label`` (``ClassLabel`` with names) and ``id``. Modules: :mod:`zoo.data.splits` (split
protocols), :mod:`zoo.data.synthetic` (planted-motif benchmarks with ground truth), :mod:`zoo.data.formats` (file
parsers), :mod:`zoo.data.transforms` (encoding on the fly and streaming for training).
"""
from zoo.data.formats import FormatError, detect_format, iter_records
from zoo.data.splits import SPLITS, carve_validation, paper_splice_split, stratified_split
from zoo.data.synthetic import PWMS, get_pwm, planted_motif_benchmark, sample_planted
from zoo.data.transforms import StreamingEncodedDataset, encode_collate, iter_encoded_batches

__all__ = [
    "SPLITS", "stratified_split", "carve_validation", "paper_splice_split",
    "PWMS", "get_pwm", "planted_motif_benchmark", "sample_planted",
    "FormatError", "detect_format", "iter_records",
    "encode_collate", "iter_encoded_batches", "StreamingEncodedDataset",
]
