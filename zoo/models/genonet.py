"""GenoNet: genozoo's own architecture family for short DNA sequences, designed from what the study's grid taught
(issue #25) and built to be trained with one recipe on every task.

What the grid taught, and the ingredient that answers it:

* local motifs decide the short tasks: a convolutional stem, one MaxPool 2, then residual *dilated* convolutions
  (BatchNorm, GELU, dropout) whose receptive field grows past 100 bp without pooling away more position;
* recurrent layers after convolutions win most tasks: a bidirectional GRU over the once-pooled feature map;
* splice is position-aware, motifs are not: the head reads attention pooling and max pooling of the GRU's
  states *and* a flattened narrow projection of every state (position by position);
  ``genonet_small_pos32`` averages that projection into at most 32 stretches, so it stops growing with the length
  (at 500 bp it was half the parameters, on histone, where position means little);
* histone rewards composition (``doc2vec_mlp`` led it): a k-mer composition branch (normalized 4-mer frequencies,
  computed from the one-hot inside the model, then BatchNorm and a small MLP) joins the head;
* strand symmetry of binding sites: ``rc_average`` averages the logits of ``x`` and its reverse complement in
  evaluation (off where the task is strand-specific; an ingredient of the ablation).

Contract: one-hot input ``(N, 4, L)`` (:data:`zoo.encoding` ``onehot``; N and padding are all-zero columns);
logits ``(N, 1)`` (binary) or ``(N, num_classes)``. The classifier is ``head``. ``genonet_small_pos32_x3`` is a
:class:`GenoNetEnsemble`: three members trained side by side, each on its own loss, predicting their mean.
"""
from __future__ import annotations

import inspect
from typing import Any, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.encoding import Encoding, kmer_index
from zoo.errors import UserError
from zoo.models import fastpath
from zoo.models.base import ZooModel
from zoo.registry import register_model

__all__ = ["GenoNet", "GenoNetEnsemble"]


class _DilatedBlock(nn.Module):
    """``x + Dropout(GELU(BN(Conv_dilated(x))))``: a residual convolution that keeps the length."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2, bias=False)
        self.norm = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(F.gelu(self.norm(self.conv(x))))


class GenoNet(ZooModel):
    """Conv stem, MaxPool, residual dilated blocks, BiGRU, [attention pool | max pool | flattened projection |
    k-mer MLP], MLP head.

    * ``channels``, ``stem_kernel``: the stem Conv1d (one-hot 4 -> channels, 'same' padding), BN, GELU;
    * ``dilations``, ``kernel_size``: one residual block per dilation;
    * ``pool``: MaxPool1d after the stem (1 = none): the blocks and the GRU run on ``L // pool`` steps; ``gru_units``: hidden size per direction (0 = no GRU: the
      pooled convolutional features are read directly); ``flatten_channels``: width of the position-aware
      branch (a 1x1 projection of every step, flattened; 0 = none); ``position_bins``: that branch's resolution,
      the projection averaged into at most this many equal stretches of the sequence (0 = every step);
    * ``kmer``: k of the composition branch (0 = none), ``kmer_dim`` its width;
    * ``rc_average``: average the logits of the sequence and its reverse complement in evaluation.
    """

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 channels: int = 64, stem_kernel: int = 9, kernel_size: int = 5,
                 dilations: Sequence[int] = (1, 2, 4, 8), dropout: float = 0.2, pool: int = 2,
                 gru_units: int = 64, flatten_channels: int = 8, kmer: int = 4, kmer_dim: int = 64, hidden: int = 128,
                 head_dropout: float = 0.3, rc_average: bool = False, position_bins: int = 0):
        super().__init__(num_classes, seq_len, label_names)
        if self.seq_len < max(1, pool):
            raise UserError(f"GenoNet with pool {pool} needs sequences of at least {pool} bp, not {self.seq_len}")
        if kernel_size % 2 == 0 or stem_kernel % 2 == 0:
            raise UserError(f"GenoNet's kernel sizes must be odd ('same' padding), not {stem_kernel}/{kernel_size}")
        self.kmer, self.rc_average = int(kmer), bool(rc_average)
        self.stem = nn.Sequential(nn.Conv1d(4, channels, stem_kernel, padding=stem_kernel // 2, bias=False),
                                  nn.BatchNorm1d(channels), nn.GELU())
        self.blocks = nn.Sequential(*[_DilatedBlock(channels, kernel_size, d, dropout) for d in dilations])
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()
        self.gru = nn.GRU(channels, gru_units, batch_first=True, bidirectional=True) if gru_units else None
        width = 2 * gru_units if gru_units else channels
        self.attention = nn.Linear(width, 1)
        features = 2 * width
        # Position-aware branch: a 1x1 projection of every GRU step, flattened (splice's signal sits at fixed
        # offsets from the junction, which attention and max pooling discard); with position_bins, averaged into
        # that many stretches first, so its size stops growing with the length (at 500 bp, 250 steps x 8 channels
        # were half the parameters, on a task where position means little).
        steps = self.seq_len // pool if pool > 1 else self.seq_len
        if position_bins < 0:
            raise UserError(f"GenoNet's position_bins must be 0 (every step) or positive, not {position_bins}")
        self.bins = position_bins if 0 < position_bins < steps else 0     # 0: every step, nothing averaged
        self.project = nn.Conv1d(width, flatten_channels, 1) if flatten_channels else None
        features += flatten_channels * (self.bins or steps)
        if self.kmer:
            self.composition = nn.Sequential(nn.BatchNorm1d(4 ** self.kmer), nn.Linear(4 ** self.kmer, kmer_dim),
                                             nn.GELU(), nn.Dropout(head_dropout))
            features += kmer_dim
        self.mlp = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(features, hidden), nn.GELU(),
                                 nn.Dropout(head_dropout))
        self.head = nn.Linear(hidden, self.num_outputs)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="onehot", length=self.seq_len)

    def kmer_frequencies(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 4**k)``: each k-mer's share of the windows without N or padding (all-zero one-hot columns)."""
        k = self.kmer
        valid = x.sum(1) > 0.5                                     # (N, L)
        base = (x * torch.arange(4, device=x.device, dtype=x.dtype).view(1, 4, 1)).sum(1).round().long()
        L = x.shape[2]
        if L < k:
            return x.new_zeros(x.shape[0], 4 ** k)
        words = sum(base[:, j:L - k + 1 + j] * 4 ** (k - 1 - j) for j in range(k))   # (N, L-k+1)
        ok = torch.stack([valid[:, j:L - k + 1 + j] for j in range(k)]).all(0).to(x.dtype)
        counts = x.new_zeros(x.shape[0], 4 ** k).scatter_add_(1, words, ok)
        return counts / ok.sum(1, keepdim=True).clamp(min=1)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.pool(self.stem(x)))                    # (N, C, T): the blocks run at half length
        h = h.transpose(1, 2)                                       # (N, T, C)
        if self.gru is not None:
            h, _ = self.gru(h)                                      # (N, T, 2H)
        weights = torch.softmax(self.attention(h), dim=1)           # (N, T, 1)
        parts = [(weights * h).sum(1), h.amax(1)]
        if self.project is not None:
            steps = self.project(h.transpose(1, 2))                 # (N, P, T)
            if self.bins:
                steps = F.adaptive_avg_pool1d(steps, self.bins)
            parts.append(steps.flatten(1))
        if self.kmer:
            parts.append(self.composition(self.kmer_frequencies(x)))
        return self.head(self.mlp(torch.cat(parts, dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a one-hot ``(N, 4, L)`` batch, or of base indices ``(N, L)`` (:meth:`fast_input`, which the
        training loop feeds: the one-hot is then built here, N and padding all zero)."""
        if x.dim() == 2:
            x = F.one_hot((x + 1).clamp(min=0), 5)[..., 1:].transpose(1, 2)
        x = x.to(self.head.weight.dtype)  # the parameters' dtype: float32, or what .double() / .half() made it
        if self.rc_average and not self.training:
            return 0.5 * (self._logits(x) + self._logits(x.flip(1, 2)))  # one-hot ACGT: flipping both axes = RC
        return self._logits(x)

    # ----------------------------------------------------------------------------------- fast inference
    def fast_input(self, codes: np.ndarray) -> torch.Tensor:
        """Base indices ``(N, L)`` (0-3 for ACGT, -1 for N and padding, which the one-hot leaves all zero) instead
        of the 4-channel one-hot."""
        return torch.from_numpy(kmer_index(codes, 1))

    def inference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in eval mode, rewritten exactly (:mod:`zoo.models.fastpath`) from base indices: the
        stem as gathered kernel columns, every BatchNorm folded into its convolution, the dilated blocks as
        accumulated matrix products in channels-last rows, the BiGRU's two directions stepped together, and the
        k-mer composition read from the indices. A one-hot ``(N, 4, L)`` input takes :meth:`forward`; tested
        against it within 1e-5 (tests/test_inference.py)."""
        if self.training or x.dim() != 2:
            return self(x)
        if self.rc_average:  # the reverse complement of base b is 3 - b; N/padding stay -1
            rc = torch.where(x >= 0, 3 - x, x).flip(1)
            return 0.5 * (self._fast_logits(x) + self._fast_logits(rc))
        return self._fast_logits(x)

    def _fast_logits(self, bases: torch.Tensor) -> torch.Tensor:
        stem, taps, gru, heads, mlp = self._inference_weights()
        return fastpath._compiled(genonet_logits)(
            bases, stem[0], stem[1], self.stem[0].kernel_size[0], self._pool_size(), taps,
            [b.conv.dilation[0] for b in self.blocks], gru, heads[0], heads[1], heads[2], heads[3], self.bins,
            self.kmer, mlp, self.composition[0].eps if self.kmer else 0.0, fastpath._ROWS)

    def _pool_size(self) -> int:
        return 1 if isinstance(self.pool, nn.Identity) else int(self.pool.kernel_size)

    def _inference_weights(self) -> tuple:
        """The weights :meth:`_fast_logits` computes with, derived once and kept until a parameter or buffer
        changes (in place, by an optimizer or ``load_state_dict``, or moved to another device; :meth:`train` and
        :meth:`eval` forget them too, for code that writes through ``.data``): the stem as a lookup table and its bias,
        each block's convolution with its BatchNorm folded in, the GRU's weights arranged for
        :func:`~zoo.models.fastpath.bigru_run`. Deriving them took 150 small operations a batch, each of which
        waits for the GIL in a busy multi-threaded server such as the space."""
        tensors = [*self.parameters(), *self.buffers()]
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        cached = self.__dict__.get("_fast_weights")
        if cached is not None and cached[0] == key:
            return cached[1]
        with torch.no_grad():
            weight, bias = fastpath.folded_batchnorm(self.stem[0], self.stem[1])
            stem = (fastpath.word_table_1d(weight, 4), bias)
            taps = []
            for block in self.blocks:  # (K, C, F) taps and the folded bias
                weight, bias = fastpath.folded_batchnorm(block.conv, block.norm)
                taps += [weight.permute(2, 1, 0).contiguous(), bias]
            gru = list(fastpath.bigru_weights(self.gru)) if self.gru is not None else []
            project = (self.project.weight[:, :, 0].contiguous(), self.project.bias) if self.project is not None \
                else (None, None)
            heads = (self.attention.weight, self.attention.bias, *project)
            mlp = [self.mlp[1].weight, self.mlp[1].bias, self.head.weight, self.head.bias]
            if self.kmer:
                norm, linear = self.composition[0], self.composition[1]
                mlp += [norm.running_mean, norm.running_var, norm.weight, norm.bias, linear.weight, linear.bias]
        derived = (stem, taps, gru, heads, mlp)
        self.__dict__["_fast_weights"] = (key, derived)  # not a buffer: never saved, never moved by .to()
        return derived

    def train(self, mode: bool = True) -> "GenoNet":
        self.__dict__.pop("_fast_weights", None)
        return super().train(mode)


class GenoNetEnsemble(ZooModel):
    """``members`` GenoNets of the same arguments, each from its own initialization, read as one model: in
    evaluation the mean of their logits; in training :meth:`forward` returns every member's logits
    ``(N, members, outputs)`` and the training loop scores each member on its own loss
    (:func:`zoo.engine._training_loss`), so the members are a deep ensemble trained in one pass (the same batches,
    their own weights) rather than one network fitted through the averaged output.

    ``members`` and every :class:`GenoNet` argument; the classifier is each member's ``head``.
    """

    classifier = "members.*.head"

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 members: int = 3, **kwargs: Any):
        super().__init__(num_classes, seq_len, label_names)
        if not 1 <= members <= 16:
            raise UserError(f"a GenoNet ensemble holds 1 to 16 members, not {members}")
        self.members = nn.ModuleList(GenoNet(num_classes, seq_len, label_names, **kwargs) for _ in range(members))

    # The signature the hub mixin records in config.json and reads back: GenoNet's arguments and ``members`` (so
    # every member argument is saved with its default, and a config's other keys are not passed to GenoNet).
    __init__.__signature__ = inspect.signature(GenoNet.__init__).replace(parameters=[
        *inspect.signature(GenoNet.__init__).parameters.values(),
        inspect.Parameter("members", inspect.Parameter.KEYWORD_ONLY, default=3, annotation=int)])

    @property
    def encoding(self) -> Encoding:
        return self.members[0].encoding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean logits ``(N, outputs)`` in evaluation; every member's ``(N, members, outputs)`` in training."""
        if self.training:
            return torch.stack([m(x) for m in self.members], dim=1)
        return torch.stack([m(x) for m in self.members]).mean(0)

    def fast_input(self, codes: np.ndarray) -> torch.Tensor:
        return self.members[0].fast_input(codes)

    def inference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of the members' :meth:`GenoNet.inference_forward` (each an exact rewrite of its forward)."""
        if self.training:
            return self(x)
        return torch.stack([m.inference_forward(x) for m in self.members]).mean(0)

    def reset_classifier(self, num_classes: int, label_names: Sequence[str] | None = None) -> None:
        for m in self.members:
            m.reset_classifier(num_classes, label_names)
        self.num_classes, self.label_names = int(num_classes), list(self.members[0].label_names)
        if isinstance(self._hub_mixin_config, dict):
            self._hub_mixin_config.update(num_classes=self.num_classes, label_names=self.label_names)


def kmer_frequencies_from_bases(bases: torch.Tensor, k: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(N, 4**k)`` shares (of ``dtype``) of each k-mer among the windows of ``bases`` (``(N, L)`` base indices, -1
    for N and padding) that hold no N or padding; zeros where ``L < k``."""
    n, L = bases.shape[0], bases.shape[1]
    if L < k:
        return torch.zeros(n, 1 << (2 * k), dtype=dtype, device=bases.device)
    valid = bases >= 0
    base = bases.clamp(min=0)
    words = base[:, :L - k + 1]
    ok = valid[:, :L - k + 1]
    for j in range(1, k):
        words = words * 4 + base[:, j:L - k + 1 + j]
        ok = ok & valid[:, j:L - k + 1 + j]
    weights = ok.to(dtype)
    counts = torch.zeros(n, 1 << (2 * k), dtype=dtype, device=bases.device).scatter_add_(1, words, weights)
    return counts / weights.sum(1, keepdim=True).clamp(min=1)


def genonet_logits(bases: torch.Tensor, stem_table: torch.Tensor, stem_bias: torch.Tensor, stem_kernel: int,
                   pool: int, taps: List[torch.Tensor], dilations: List[int], gru: List[torch.Tensor],
                   attention_w: torch.Tensor, attention_b: torch.Tensor, project_w: Optional[torch.Tensor],
                   project_b: Optional[torch.Tensor], bins: int, kmer: int, mlp: List[torch.Tensor], eps: float,
                   block: int
                   ) -> torch.Tensor:
    """GenoNet's logits in eval mode from base indices ``(N, L)``, with the weights of
    :meth:`GenoNet._inference_weights` (``mlp``: the MLP's and the head's linear layers, then the composition
    branch's BatchNorm and linear layer; dropout is the identity in eval mode). One TorchScript call (see
    :func:`zoo.models.fastpath._compiled`): a pass holds the GIL for none of its hundred operations."""
    K = stem_kernel
    n, L = bases.shape[0], bases.shape[1]
    # The stem as gathered kernel columns and the pooling as maxima of strided slices: fastpath.gather_conv and
    # maxpool_cl, written out here in the Python TorchScript compiles (gather_conv's training path is an autograd
    # Function, which it does not).
    padded = F.pad(bases, [K // 2, K // 2], value=-1.0)
    words = padded.masked_fill(padded < 0, 4)
    idx = words.unfold(1, K, 1) + torch.arange(K, device=bases.device) * 5
    h = F.embedding_bag(idx.reshape(-1, K), stem_table, mode="sum").add_(stem_bias)
    h = F.gelu(h.view(n, L, -1))                                        # (N, L, C)
    if pool > 1:
        m = L // pool
        pooled = h[:, 0:m * pool:pool]
        for i in range(1, pool):
            pooled = torch.maximum(pooled, h[:, i:m * pool:pool])
        h = pooled
    h = h.transpose(0, 1).contiguous()                                 # time-major (T, N, C) from here on
    for i in range(len(dilations)):
        h = h + F.gelu(fastpath.conv_taps_tm(h, taps[2 * i], taps[2 * i + 1], dilations[i], block))
    if len(gru) > 0:
        h = fastpath.bigru_run(h, gru[0], gru[1], gru[2], gru[3], gru[4], block)   # (T, N, 2H)
    weights = torch.softmax(F.linear(h, attention_w, attention_b), dim=0)
    parts = [(weights * h).sum(0), h.amax(0)]
    if project_w is not None and project_b is not None:
        steps = torch.matmul(h, project_w.t()).add_(project_b).permute(1, 2, 0)   # (N, P, T)
        if bins > 0:
            steps = F.adaptive_avg_pool1d(steps, bins)
        parts.append(steps.flatten(1))
    if kmer > 0:
        frequencies = F.batch_norm(kmer_frequencies_from_bases(bases, kmer, stem_table.dtype), mlp[4], mlp[5],
                                   mlp[6], mlp[7], False, 0.0, eps)
        parts.append(F.gelu(F.linear(frequencies, mlp[8], mlp[9])))
    hidden = F.gelu(F.linear(torch.cat(parts, dim=1), mlp[0], mlp[1]))
    return F.linear(hidden, mlp[2], mlp[3])


def _create(defaults: dict[str, Any], kwargs: dict[str, Any]) -> GenoNet:
    return GenoNet(**{**defaults, **kwargs})


@register_model(family="genonet")
def genonet_small(**kwargs: Any) -> GenoNet:
    """Stem 64 (k=9), MaxPool 2, 4 residual dilated blocks (k=5; dilation 1, 2, 4, 8), BiGRU 64, attention +
    max pooling, 4-mer composition MLP 64, MLP 128, head; one-hot input."""
    return _create({}, kwargs)


@register_model(family="genonet")
def genonet_small_pos32(**kwargs: Any) -> GenoNet:
    """``genonet_small`` whose position branch is averaged into at most 32 stretches of the sequence
    (``position_bins=32``): the same model up to 64 bp, 226,890 parameters instead of 450,122 at 500 bp."""
    return _create({"position_bins": 32}, kwargs)


@register_model(family="genonet")
def genonet_small_pos32_x3(**kwargs: Any) -> GenoNetEnsemble:
    """Three ``genonet_small_pos32`` trained side by side, each on its own loss, predicting with the mean of their
    logits (:class:`GenoNetEnsemble`): three times the parameters and compute of one."""
    return GenoNetEnsemble(**{"members": 3, "position_bins": 32, **kwargs})
