"""A small transformer that works on DNA at the study's sizes: a convolutional stem, then attention.

Not part of the study (Zhang, Cheng & Solis-Lemus 2022). The plain BERTs of :mod:`zoo.models.transformer` read one
token per nucleotide or per non-overlapping 3-mer and stay near chance on the motif tasks (``bert_tiny_kmer3``
0.64 test accuracy on CTCF): a binding site is a short, position-free pattern that a few thousand sequences do not
teach attention to assemble from single letters. Here a convolution reads the motifs first, as in Basenji,
Enformer or the conv-stem vision transformers, and attention relates them. This module owns :class:`ConvFormer`
and its registered builder.

Contract: one-hot input ``(N, 4, L)`` (``kind="onehot"``, channels ``A C G T``), logits ``(N, 1)`` (binary) or
``(N, num_classes)``. The layers:

* stem: ``Conv1d(4, dim, stem_kernel)`` + GELU, one residual ``Conv1d(dim, dim, conv_kernel)`` + GELU, and a
  max-pool of ``pool`` that shortens the sequence (101 bp -> 51 tokens with ``pool=2``);
* a learned position embedding per token (the tasks have a fixed length, and splice sites sit at fixed positions),
  then ``num_layers`` pre-LayerNorm encoder layers (``torch.nn.TransformerEncoderLayer``: ``num_heads`` heads,
  GELU feed-forward of ``mlp_ratio * dim``, dropout) and a final LayerNorm;
* pooling: attention pooling (a learned score per token, softmax over tokens) concatenated with max pooling,
  dropout, and ``head`` (a Linear).

``strand_symmetric=True`` (the motif and histone geometries: binding and marks do not depend on the strand read)
trains on a random strand of each sequence (half the batch reverse-complemented) and predicts the mean of the
logits of both strands, so a sequence and its reverse complement get the same probabilities. Splice sites are
strand-specific (an acceptor read backwards is no donor), so the splice geometry keeps it off.

It is a genozoo model (``model.safetensors`` + ``config.json``, loaded by :func:`zoo.hub.load_model`), not a
``transformers`` folder: the convolutional stem has no ``transformers`` class to load it without remote code.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from zoo.encoding import Encoding
from zoo.models.base import ZooModel
from zoo.registry import register_model

__all__ = ["ConvFormer"]


def reverse_complement_onehot(x: torch.Tensor) -> torch.Tensor:
    """The reverse complement of a one-hot batch ``(N, 4, L)`` over ``A C G T``: complementing reverses the
    channels (A<->T, C<->G), reading the other strand reverses the positions."""
    return x.flip(1, 2)


class ConvFormer(ZooModel):
    """Convolutional stem, learned positions, pre-LN transformer encoder, attention + max pooling, ``head``."""

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 dim: int = 64, stem_kernel: int = 15, conv_kernel: int = 5, pool: int = 2, num_layers: int = 2,
                 num_heads: int = 4, mlp_ratio: int = 2, dropout: float = 0.3, strand_symmetric: bool = False):
        super().__init__(num_classes, seq_len, label_names)
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        if stem_kernel % 2 == 0 or conv_kernel % 2 == 0:
            raise ValueError(f"kernels must be odd (same-length convolutions), not {stem_kernel} and {conv_kernel}")
        if pool < 1 or num_layers < 1:
            raise ValueError(f"pool and num_layers must be at least 1, not {pool} and {num_layers}")
        self.dim, self.stem_kernel, self.conv_kernel, self.pool_size = int(dim), int(stem_kernel), int(conv_kernel), \
            int(pool)
        self.num_layers, self.num_heads, self.mlp_ratio = int(num_layers), int(num_heads), int(mlp_ratio)
        self.dropout_p, self.strand_symmetric = float(dropout), bool(strand_symmetric)
        self.num_tokens = math.ceil(self.seq_len / self.pool_size)
        self.stem = nn.Sequential(nn.Conv1d(4, dim, stem_kernel, padding=stem_kernel // 2), nn.GELU())
        self.residual = nn.Sequential(nn.Conv1d(dim, dim, conv_kernel, padding=conv_kernel // 2), nn.GELU())
        self.pool = nn.MaxPool1d(pool, ceil_mode=True) if pool > 1 else nn.Identity()
        self.position = nn.Parameter(torch.zeros(1, self.num_tokens, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, num_heads, dim * mlp_ratio, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.score = nn.Linear(dim, 1)  # attention pooling: one score per token
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * dim, self.num_outputs)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="onehot", length=self.seq_len)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = self.pool(h + self.residual(h)).transpose(1, 2)  # (N, tokens, dim)
        h = self.norm(self.encoder(self.dropout(h + self.position)))
        weights = torch.softmax(self.score(h), dim=1)  # (N, tokens, 1)
        pooled = torch.cat([(weights * h).sum(1), h.amax(1)], dim=1)
        return self.head(self.dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.head.weight.dtype)  # the parameters' dtype: float32, or what .double() / .half() made it
        if not self.strand_symmetric:
            return self._logits(x)
        if self.training:  # a random strand per sequence
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip[:, None, None], reverse_complement_onehot(x), x)
            return self._logits(x)
        n = x.shape[0]
        both = self._logits(torch.cat([x, reverse_complement_onehot(x)]))
        return (both[:n] + both[n:]) / 2


_SYMMETRIC = {"strand_symmetric": True}


@register_model(family="convformer", geometry_args={"motif": _SYMMETRIC, "histone": {**_SYMMETRIC, "pool": 4}})
def convformer_small(**kwargs: Any) -> ConvFormer:
    """Conv1D 64 (k=15) + residual Conv1D 64 (k=5), max-pool 2, learned positions, 2 pre-LN encoder layers
    (64 wide, 4 heads, feed-forward 128), dropout 0.3, attention + max pooling; one-hot input. Strand-symmetric on
    motif and histone (pool 4 on its 500 bp)."""
    return ConvFormer(**kwargs)
