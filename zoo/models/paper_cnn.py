"""The study's k-mer Conv2D CNNs (Nguyen et al. 2016, Zeng et al. 2016) and DeepDBP, ported layer for layer.

Zhang, Cheng & Solis-Lemus (BMC Bioinformatics 2022) trained these Keras models (public repository
``solislemuslab/dna-nn-theory``, ``cnn/dna_nn/model.py``); this module owns their PyTorch ports, the Keras weight
initialization shared with :mod:`zoo.models.deepram`, and one registered builder per variant.

Contract: the Conv2D CNNs take the k-mer one-hot image ``(N, 1, L-2, 64*(r+1))``, uint8 or float
(``kind="kmer_image"``, k=3; the study used region r=0 for splice/histone and r=2 for motif, see
``geometry_args``); DeepDBP takes tokens ``(N, L)`` over :data:`zoo.encoding.TOKENS`. Output: logits ``(N, 1)``
(binary) or ``(N, num_classes)``.

Findings from reading the original Keras code where PAPER.md's table is terse:

* every convolution has a ReLU, including the second and third of ``cnn_nguyen_conv1d_2_conv2d``;
* the first kernel of ``cnn_nguyen_conv1d_2_conv2d`` is ``(H-W+1, 1)`` when ``H > W`` else ``(1, W-H+1)``, with
  ``H = L-2`` and ``W = 64*(r+1)``: it squashes the image to ``min(H, W)`` square before the 3x3 convolutions;
* Zeng CNNs apply ReLU, *then* BatchNorm, then MaxPool; the last block ends in GlobalMaxPool (the Flatten after it
  is a no-op); Keras BatchNorm defaults (momentum 0.99, epsilon 1e-3) are kept (torch ``momentum=0.01``);
* ``cnn_zeng_4_conv2d_l2`` sets ``kernel_regularizer='l2'`` (Keras ``L2(0.01)``) on the kernels of the 2nd-4th
  convolutions, not their biases (see :meth:`ZengCNN.l2_layers`);
* DeepDBP: Embedding 128 viewed as a one-channel ``(L, 128)`` image, Conv2D 128 ``(1, 31)`` 'same' + ReLU,
  MaxPool ``(1, 31)`` (width 128 -> 4), Flatten, then Dropout 0.3 before each Dense (32 relu, 16 relu, head).
  The original sized its embedding table by the sequence length (``Embedding(L, 128)``), a flaw: ours has one
  row per token of :data:`zoo.encoding.TOKENS` (6 rows; PAD = row 0 stays zero).

Flatten follows the Keras channel-last order (``H, W, C``) so Keras weights map onto these layers by transposition
alone. Initialization follows Keras defaults (:func:`keras_init_`), so training starts where the study's did.
Checked once against Keras 3.15 / TensorFlow 2.21 (not in the test suite, which has no TensorFlow): with the
random weights (biases and BatchNorm statistics included) of Keras models of the same layers copied in, the
inference probabilities of all 13 ports agree within 1.2e-7 on the three geometries.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.encoding import TOKENS, Encoding, kmer_index
from zoo.models import fastpath
from zoo.errors import UserError
from zoo.models.base import ZooModel
from zoo.registry import register_model

__all__ = ["NguyenCNN", "ZengCNN", "DeepDBP", "keras_init_", "check_seq_len", "KERAS_BN_MOMENTUM", "KERAS_BN_EPS"]

#: Keras BatchNormalization defaults in torch terms (torch momentum = 1 - Keras momentum).
KERAS_BN_MOMENTUM, KERAS_BN_EPS = 0.01, 1e-3

#: The study used region 2 for the motif data and region 0 otherwise for the Conv2D k-mer CNNs.
_KMER_GEOMETRY = {"motif": {"region": 2}}


@torch.no_grad()
def keras_init_(module: nn.Module) -> nn.Module:
    """Re-initialize ``module``'s layers as Keras does by default, in place.

    Glorot-uniform kernels and zero biases (Conv, Linear, LSTM input weights), orthogonal LSTM recurrent weights,
    LSTM forget-gate bias 1 (Keras ``unit_forget_bias``; torch has two biases, the 1 goes in ``bias_ih``),
    embeddings uniform in [-0.05, 0.05] (a ``padding_idx`` row stays zero). BatchNorm keeps gamma 1, beta 0.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.uniform_(m.weight, -0.05, 0.05)
            if m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LSTM):
            h = m.hidden_size
            for name, p in m.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(p)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(p)
                elif name.startswith("bias"):
                    nn.init.zeros_(p)
                    if name.startswith("bias_ih"):
                        p[h:2 * h] = 1.0  # torch gate order i, f, g, o: chunk 1 is the forget gate
    return module


def shrink(n: int, ops: Sequence[tuple[str, int]]) -> int:
    """Length left of ``n`` after 'valid' ``("conv", kernel)`` and ``("pool", size)`` steps (0: nothing left)."""
    for op, size in ops:
        n = n - size + 1 if op == "conv" else n // size
        if n < 1:
            return 0
    return n


def check_seq_len(model: str, seq_len: int, fits: Callable[[int], bool]) -> None:
    """Raise :class:`UserError` naming the shortest usable length when ``fits(seq_len)`` is false."""
    if fits(seq_len):
        return
    shortest = next((n for n in range(seq_len + 1, 100_000) if fits(n)), None)
    hint = f"use seq_len {shortest} or more" if shortest else "no sequence length fits these hyperparameters"
    raise UserError(f"seq_len {seq_len} is too short for {model}: its convolutions and poolings leave nothing; "
                    f"{hint}")


def _flatten_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Flatten ``(N, C, H, W)`` in Keras' ``(H, W, C)`` order so Dense weights line up with a Keras model."""
    return x.permute(0, 2, 3, 1).flatten(1)


def _kmer_image_encoding(seq_len: int, k: int, region: int) -> Encoding:
    return Encoding(kind="kmer_image", length=seq_len, k=k, region=region)


class NguyenCNN(ZooModel):
    """Nguyen et al. (2016) style CNN on the k-mer one-hot image: Conv2D 3x3 + ReLU + MaxPool blocks, Flatten,
    Dense + ReLU, Dropout, head.

    ``line_filters > 0`` prepends the "conv1d" block of ``cnn_nguyen_conv1d_2_conv2d``: a Conv2D whose kernel
    spans the surplus of the longer image side (``(H-W+1, 1)`` if ``H > W`` else ``(1, W-H+1)``) + ReLU + MaxPool.
    The Dense layer's input size depends on ``seq_len``, so the model only takes sequences of that length.
    """

    channels_last = True

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 filters: Sequence[int] = (16, 32), line_filters: int = 0, kernel_size: int = 3, dense: int = 32,
                 dropout: float = 0.5, k: int = 3, region: int = 0):
        super().__init__(num_classes, seq_len, label_names)
        self.k, self.region = int(k), int(region)
        width = 4 ** self.k * (self.region + 1)

        def plan(length: int) -> tuple[tuple[int, int] | None, int]:
            """(first kernel or None, flattened size) for a sequence length; size 0 = does not fit."""
            h = length - self.k + 1
            if h < 1:
                return None, 0
            line = ((h - width + 1, 1) if h > width else (1, width - h + 1)) if line_filters else None
            ops: list[tuple[str, int]] = []
            for _ in filters:
                ops += [("conv", kernel_size), ("pool", 2)]
            hh = shrink(h, ([("conv", line[0]), ("pool", 2)] if line else []) + ops)
            ww = shrink(width, ([("conv", line[1]), ("pool", 2)] if line else []) + ops)
            return line, hh * ww * (list(filters)[-1] if filters else (line_filters or 1))

        check_seq_len(type(self).__name__ + f" with filters {list(filters)}", self.seq_len,
                      lambda n: plan(n)[1] > 0)
        kernel, n_flat = plan(self.seq_len)
        layers: list[nn.Module] = []
        in_ch = 1
        if kernel:
            layers += [nn.Conv2d(in_ch, line_filters, kernel), nn.ReLU(), nn.MaxPool2d(2)]
            in_ch = line_filters
        for f in filters:
            layers += [nn.Conv2d(in_ch, f, kernel_size), nn.ReLU(), nn.MaxPool2d(2)]
            in_ch = f
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Linear(n_flat, dense), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(dense, self.num_outputs)
        keras_init_(self)

    @property
    def encoding(self) -> Encoding:
        return _kmer_image_encoding(self.seq_len, self.k, self.region)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # k-mer word ids (fast_input): the first convolution gathers stamps of its kernel
            return self._gathered_forward(x)
        x = x.to(self.head.weight.dtype)  # the k-mer image arrives as uint8 0/1; the model may be .double()
        return self.head(self.dense(_flatten_channels_last(self.features(x))))

    def _gathered_forward(self, words: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on the one-hot image of k-mer ``words`` ``(N, P)`` without the image (training and
        evaluation; differentiable): the first convolution and its pooling as gathered stamps of its kernel
        (:func:`zoo.models.fastpath.stamp_conv_pool`, whose backward gathers the kernel gradient), then in every (Conv2d, ReLU, MaxPool2d) block the pooling
        before the bias and the ReLU: ``pool(relu(z + b)) == relu(pool(z) + b)``, and the gradients are the same
        too (the pooling's first maximum is the same element either way wherever the ReLU lets a gradient
        through), on 4x fewer values. Channels-last memory throughout (NCHW views for oneDNN)."""
        first = self.features[0]
        vocab = 4 ** self.k
        h = fastpath.stamp_conv_pool(words, first.weight, vocab, self.region + 1)  # pooled, before the bias
        h = torch.relu(h + first.bias.view(1, -1, 1, 1))
        for i in range(3, len(self.features), 3):  # Conv2d, ReLU, MaxPool2d
            h = torch.relu(F.max_pool2d(self.features[i](h), 2))
        return self.head(self.dense(_flatten_channels_last(h)))

    def _fast_first(self) -> bool:
        """True when the features are (Conv2d 3x3, ReLU, MaxPool2d) blocks from the image on (not the line
        kernel of ``cnn_nguyen_conv1d_2_conv2d``), which :meth:`inference_forward` rewrites."""
        first = self.features[0]
        return first.kernel_size[0] == first.kernel_size[1] > 1

    def fast_input(self, codes: np.ndarray) -> torch.Tensor:
        """k-mer word ids ``(N, L-k+1)`` (-1 where the window holds N/PAD) instead of the one-hot image (which
        :meth:`forward` also accepts, for training too)."""
        if not self._fast_first():
            return super().fast_input(codes)
        return torch.from_numpy(kmer_index(codes, self.k))

    #: Sequences per slice of :meth:`inference_forward`: the first layer's output (``H x W x F`` floats, 220 kB per
    #: 60 bp sequence) of a slice stays in the cache for the pooling that reads it back (about 1.2x faster than 256).
    inference_slice = 32

    def inference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in eval mode, rewritten exactly (:mod:`zoo.models.fastpath`): the first 3x3
        convolution as gathered stamps of its kernel (never the one-hot image; the stamp table is built once per
        weight version), max pooling before each ReLU, activations in place, channels last throughout, the batch
        run in slices of :attr:`inference_slice` sequences."""
        if self.training or not self._fast_first():
            return self(x)
        first = self.features[0]
        vocab = 4 ** self.k
        key = (id(first.weight), first.weight.data_ptr(), first.weight._version, first.weight.device,
               first.weight.dtype)
        cached = getattr(self, "_stamps", None)
        if cached is None or cached[0] != key:
            cached = (key, fastpath.word_table_2d(first.weight.detach(), vocab, self.region + 1))
            self._stamps = cached
        table = cached[1]
        blocks = [self.features[i:i + 3] for i in range(3, len(self.features), 3)]  # Conv2d, ReLU, MaxPool2d
        outs = []
        for part in x.split(self.inference_slice):
            h = fastpath.gather_conv(part, table, None, vocab, first.kernel_size[0])
            h = h.view(h.shape[0], h.shape[1], -1, first.out_channels)  # (n, H, W, F)
            h = torch.relu_(fastpath.maxpool_cl(h, 2).add_(first.bias))  # max(z + b) = max(z) + b
            for conv, _, _ in blocks:  # (N, H, W, C) <-> an NCHW view of channels-last memory for oneDNN
                h = torch.relu_(fastpath.maxpool_cl(conv(h.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), 2))
            outs.append(self.head(self.dense(h.flatten(1))))  # Keras' (H, W, C) order
        return torch.cat(outs)


class ZengCNN(ZooModel):
    """Zeng et al. (2016) style CNN on the k-mer one-hot image: blocks of Conv2D 3x3 + ReLU + BatchNorm, MaxPool
    after all but the last, GlobalMaxPool, Dense + ReLU, Dropout, head. Works for any sequence length at least
    as long as the pooling pyramid needs.

    ``l2`` is the Keras L2 factor on the kernels of every convolution after the first (the study's
    ``cnn_zeng_4_conv2d_l2`` uses Keras' default 0.01). It is not added to the loss: :meth:`l2_layers` hands those
    kernels to :meth:`ZooModel.param_groups` with ``weight_decay = 2 * l2``. Keras adds ``l2 * sum(w**2)`` to the
    loss, whose gradient is ``2 * l2 * w``; torch's *coupled* weight decay (``torch.optim.Adam``/``SGD``
    ``weight_decay``) adds ``weight_decay * w`` to the gradient before the update, so the two are the same
    optimization. (Decoupled decay, ``AdamW``, is not equivalent.)
    """

    channels_last = True

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 filters: Sequence[int] = (16, 32), kernel_size: int = 3, dense: int = 32, dropout: float = 0.5,
                 l2: float = 0.0, k: int = 3, region: int = 0):
        super().__init__(num_classes, seq_len, label_names)
        if not filters:
            raise UserError("ZengCNN needs at least one convolution; give a non-empty filters list")
        self.k, self.region, self.l2 = int(k), int(region), float(l2)
        ops = [("conv", kernel_size), ("pool", 2)] * len(filters)
        width = shrink(4 ** self.k * (self.region + 1), ops[:-1])
        check_seq_len(f"{type(self).__name__} with filters {list(filters)}", self.seq_len,
                      lambda n: min(shrink(n - self.k + 1, ops[:-1]), width) > 0)
        layers: list[nn.Module] = []
        in_ch = 1
        for i, f in enumerate(filters):
            layers += [nn.Conv2d(in_ch, f, kernel_size), nn.ReLU(),
                       nn.BatchNorm2d(f, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)]
            if i < len(filters) - 1:
                layers.append(nn.MaxPool2d(2))
            in_ch = f
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Linear(in_ch, dense), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(dense, self.num_outputs)
        keras_init_(self)

    @property
    def encoding(self) -> Encoding:
        return _kmer_image_encoding(self.seq_len, self.k, self.region)

    def l2_layers(self) -> list[tuple[nn.Module, float]]:
        """``(conv, weight_decay)`` for the L2-regularized kernels: all convolutions but the first."""
        if not self.l2:
            return []
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        return [(conv, 2.0 * self.l2) for conv in convs[1:]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GlobalMaxPool2D; input: the uint8 k-mer image, computed in the parameters' dtype (float32, or .double())
        x = torch.amax(self.features(x.to(self.head.weight.dtype)), dim=(2, 3))
        return self.head(self.dense(x))


class DeepDBP(ZooModel):
    """DeepDBP-style CNN on tokens: Embedding viewed as a one-channel ``(L, embedding_dim)`` image, Conv2D with a
    ``(1, kernel)`` 'same' kernel + ReLU, MaxPool ``(1, pool)``, Flatten, then ``[Dropout, Dense + ReLU]`` per entry
    of ``dense``, Dropout, head.

    The embedding table has one row per token of :data:`zoo.encoding.TOKENS` (the original sized it by the
    sequence length, ``Embedding(L, 128)``, which only worked because token ids are smaller than L).
    """

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 embedding_dim: int = 128, filters: int = 128, kernel_size: int = 31, pool: int = 31,
                 dense: Sequence[int] = (32, 16), dropout: float = 0.3):
        super().__init__(num_classes, seq_len, label_names)
        if kernel_size % 2 == 0:
            raise UserError(f"DeepDBP kernel_size must be odd for symmetric 'same' padding, not {kernel_size}")
        if embedding_dim < pool:
            raise UserError(f"DeepDBP embedding_dim {embedding_dim} is narrower than the pool width {pool}; "
                            "raise embedding_dim or lower pool")
        self.embedding = nn.Embedding(len(TOKENS), embedding_dim, padding_idx=0)
        self.conv = nn.Conv2d(1, filters, (1, kernel_size), padding=(0, kernel_size // 2))
        self.pool = nn.MaxPool2d((1, pool))
        layers: list[nn.Module] = []
        n_in = seq_len * (embedding_dim // pool) * filters
        for d in dense:
            layers += [nn.Dropout(dropout), nn.Linear(n_in, d), nn.ReLU()]
            n_in = d
        layers.append(nn.Dropout(dropout))
        self.dense = nn.Sequential(*layers)
        self.head = nn.Linear(n_in, self.num_outputs)
        keras_init_(self)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="tokens", length=self.seq_len)

    #: Look the features up per token (:meth:`token_features`) instead of convolving every position. zoo.explain
    #: turns it off while it needs a gradient at each position's embedding; the output is the same either way.
    token_lookup = True

    def token_features(self) -> torch.Tensor:
        """Pool(ReLU(Conv)) of each token's embedding row, ``(V, E // pool, F)`` in Keras' (W, C) order.

        The ``(1, kernel)`` convolution, the ReLU and the ``(1, pool)`` pooling each act on one row of the
        ``(L, E)`` image, that is on one position's embedding alone. A position's features therefore depend only
        on its token, and convolving the vocabulary's ``V`` rows once per step is the same function as convolving
        every position of the batch (``N * L`` rows): on one CPU core, training on splice went from 40 to 1,400
        sequences/s.
        """
        # Looked up, not read off .weight, so the PAD row keeps receiving no gradient (padding_idx).
        vocab = torch.arange(self.embedding.num_embeddings, device=self.embedding.weight.device)
        table = self.embedding(vocab)[:, None, None, :]  # (V, 1, 1, E)
        return self.pool(torch.relu(self.conv(table))).squeeze(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Keras: Embedding -> Reshape((L, E, 1)) -> Conv2D -> MaxPool2D -> Flatten in (L, W, C) order.
        if self.token_lookup:
            feats = self.token_features()[x]  # (N, L, E // pool, F)
        else:  # (N, 1, L, E) image of the embeddings, convolved position by position
            feats = self.pool(torch.relu(self.conv(self.embedding(x).unsqueeze(1)))).permute(0, 2, 3, 1)
        return self.head(self.dense(feats.flatten(1)))


def _create(cls: type[ZooModel], defaults: dict[str, Any], kwargs: dict[str, Any]) -> ZooModel:
    """Build ``cls`` from the variant's defaults overridden by the caller's arguments."""
    return cls(**{**defaults, **kwargs})


@register_model(family="paper_cnn", geometry_args=_KMER_GEOMETRY)
def cnn_nguyen_2_conv2d(**kwargs: Any) -> NguyenCNN:
    """Conv2D 16, Conv2D 32 (3x3, ReLU, MaxPool), Dense 32, Dropout 0.5; k-mer image input."""
    return _create(NguyenCNN, dict(filters=[16, 32]), kwargs)


@register_model(family="paper_cnn", geometry_args=_KMER_GEOMETRY)
def cnn_nguyen_conv1d_2_conv2d(**kwargs: Any) -> NguyenCNN:
    """A full-width "conv1d" Conv2D 16, then Conv2D 16 and 32 (3x3), each ReLU + MaxPool, Dense 32, Dropout 0.5."""
    return _create(NguyenCNN, dict(filters=[16, 32], line_filters=16), kwargs)


@register_model(family="paper_cnn", geometry_args=_KMER_GEOMETRY)
def cnn_zeng_2_conv2d(**kwargs: Any) -> ZengCNN:
    """Conv2D 16, 32 (ReLU, BatchNorm), GlobalMaxPool, Dense 32, Dropout 0.5; k-mer image input."""
    return _create(ZengCNN, dict(filters=[16, 32]), kwargs)


@register_model(family="paper_cnn", geometry_args=_KMER_GEOMETRY)
def cnn_zeng_3_conv2d(**kwargs: Any) -> ZengCNN:
    """Conv2D 16, 32, 64 (ReLU, BatchNorm), GlobalMaxPool, Dense 32, Dropout 0.5; k-mer image input."""
    return _create(ZengCNN, dict(filters=[16, 32, 64]), kwargs)


@register_model(family="paper_cnn", geometry_args=_KMER_GEOMETRY)
def cnn_zeng_4_conv2d(**kwargs: Any) -> ZengCNN:
    """Conv2D 16, 32, 64, 128 (ReLU, BatchNorm), GlobalMaxPool, Dense 32, Dropout 0.5; k-mer image input."""
    return _create(ZengCNN, dict(filters=[16, 32, 64, 128]), kwargs)


@register_model(family="paper_cnn", geometry_args=_KMER_GEOMETRY)
def cnn_zeng_4_conv2d_l2(**kwargs: Any) -> ZengCNN:
    """``cnn_zeng_4_conv2d`` with Keras L2(0.01) on the last three convolution kernels (weight decay 0.02)."""
    return _create(ZengCNN, dict(filters=[16, 32, 64, 128], l2=0.01), kwargs)


@register_model(family="paper_cnn")
def cnn_deepdbp(**kwargs: Any) -> DeepDBP:
    """Embedding 128, Conv2D 128 (1, 31) 'same', MaxPool (1, 31), Dense 32, 16 with Dropout 0.3; token input."""
    return _create(DeepDBP, {}, kwargs)
