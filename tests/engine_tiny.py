"""Test support for the engine/grid tests: a tiny registered ZooModel and a small planted-motif DatasetDict.

Importing this module registers ``_tiny_cnn`` (a 1-conv one-hot CNN with BatchNorm and Dropout, so the tests
exercise buffers and training-mode randomness); it is also imported by the script that ``torchrun`` launches.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from zoo.encoding import Encoding
from zoo.models.base import ZooModel
from zoo.registry import is_model, register_model


class TinyCNN(ZooModel):
    def __init__(self, num_classes: int = 2, seq_len: int = 40, label_names: Sequence[str] | None = None,
                 width: int = 8, dropout: float = 0.2):
        super().__init__(num_classes, seq_len, label_names)
        self.conv = nn.Conv1d(4, width, 7)
        self.bn = nn.BatchNorm1d(width)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, self.num_outputs)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="onehot", length=self.seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x))).amax(dim=2)
        return self.head(self.drop(h))


if not is_model("_tiny_cnn"):
    @register_model(family="tests")
    def _tiny_cnn(**kwargs: Any) -> TinyCNN:
        return TinyCNN(**kwargs)


def tiny_benchmark(n: int = 240, length: int = 40, num_classes: int = 2, seed: int = 0):
    """A planted-motif DatasetDict from zoo.data (train/validation/test, ClassLabel labels)."""
    from zoo.data import planted_motif_benchmark

    motifs = ("CTCF",) if num_classes == 2 else ("CTCF", "GATA1", "SP1")[:num_classes]
    return planted_motif_benchmark(n=n, length=length, motifs=motifs, num_classes=num_classes, seed=seed)
