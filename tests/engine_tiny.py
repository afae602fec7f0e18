"""Test support for the engine/grid tests: a tiny ZooModel and a small planted-motif DatasetDict.

:class:`TinyCNN` (one convolution with BatchNorm and Dropout, so the tests exercise buffers and training-mode
randomness) is deliberately not registered: registry-wide tests of other modules must not see it. Tests that
need an architecture by name use the study's smallest, ``cnn_zeng_2_conv2d``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from zoo.encoding import Encoding
from zoo.models.base import ZooModel


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


def tiny_benchmark(n: int = 240, length: int = 40, num_classes: int = 2, seed: int = 0):
    """A planted-motif DatasetDict from zoo.data (train/validation/test, ClassLabel labels)."""
    from zoo.data import planted_motif_benchmark

    motifs = ("CTCF",) if num_classes == 2 else ("CTCF", "GATA1", "SP1")[:num_classes]
    return planted_motif_benchmark(n=n, length=length, motifs=motifs, num_classes=num_classes, seed=seed)


SCRIPT = """
import os, signal, sys
import torch
torch.set_num_threads(1)
import zoo.checkpoint as ckpt
die_at = os.environ.get("GZ_DIE_WRITING")
if die_at:  # SIGKILL in the middle of writing that epoch's checkpoint (after its model.safetensors)
    original = ckpt.save_weights
    def save_weights(state, path, metadata=None):
        if path.parent.name == f".epoch-{{int(die_at):04d}}.tmp" and path.name == "best.safetensors":
            os.kill(os.getpid(), signal.SIGKILL)
        return original(state, path, metadata)
    ckpt.save_weights = save_weights
from zoo.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def write_script(tmp_path: Path) -> Path:
    """A stand-in for the `genozoo` entry point that can SIGKILL itself mid-checkpoint (GZ_DIE_WRITING=epoch)."""
    script = tmp_path / "genozoo_tiny.py"
    script.write_text(SCRIPT.format())
    return script
