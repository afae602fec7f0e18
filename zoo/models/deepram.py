"""The DeepRAM family (Trabelsi et al. 2019) as the study trained it: Conv1D, Conv1D + LSTM and LSTM models on
one-hot k-mers or learned token embeddings, ported layer for layer from the Keras originals.

Zhang, Cheng & Solis-Lemus (BMC Bioinformatics 2022) built these six models in Keras (public repository
``solislemuslab/dna-nn-theory``, ``cnn/dna_nn/model.py`` and ``cnn/jmlr-submission-code/deepram/``). This module
owns the :class:`DeepRAM` class and one registered builder per variant.

Training and prediction feed the ``*_onehot`` models k-mer word ids instead (:meth:`DeepRAM.fast_input`): the
first convolution gathers kernel columns, and the first LSTM of ``deepram_recurrent_onehot`` gathers its input
kernel (:mod:`zoo.models.fastlstm`), both exact rewrites of the layers on the one-hot.

Contract: ``*_onehot`` models take the k-mer one-hot sequence ``(N, 64*(r+1), L-2)``, uint8 or float, channels
first (``kind="kmer_seq"``, k=3, region r=2 for every data set, i.e. 192 channels); ``*_embed`` models take tokens
``(N, L)`` over :data:`zoo.encoding.TOKENS`. Output: logits ``(N, 1)`` (binary) or ``(N, num_classes)``.

Findings from reading the original Keras code where PAPER.md's table is terse:

* the first layer after the input (or after the embedding) is Dropout 0.5, applied element-wise;
* every Conv1D has a ReLU, in the recurrent variants too (``Conv1D(64, 3, activation='relu')``);
* ``deepram_conv1d_*`` pool only after the first convolution and end in GlobalMaxPool1D; ``*_conv1d_recurrent_*``
  pool after both convolutions and feed the LSTMs (motif: 99 -> 97 -> 48 -> 46 -> 23 steps, as the saved
  ``model.summary()`` shows);
* LSTM 64 returns every step, LSTM 128 only its final hidden state; Keras defaults (tanh, sigmoid gates) are
  torch's; Dense 128 after them is *linear* (no activation), followed by Dropout 0.5 and the head;
* embeddings were ``Embedding(L, 256)``: sized by the sequence length, a flaw (it only worked because token ids
  are smaller than L). Ours has one row per token of :data:`zoo.encoding.TOKENS` (6 rows; PAD = row 0 stays 0).

Differences in trainable parameter counts with Keras, by design: torch's LSTM has two bias vectors
(``bias_ih`` and ``bias_hh``; Keras one), i.e. ``4 * units`` more per LSTM layer, and the embedding table has
``(6 - L) * embedding_dim`` parameters fewer. Initialization follows Keras (:func:`zoo.models.paper_cnn.keras_init_`).
With Keras weights copied in (LSTM kernels transposed, Keras' single bias in ``bias_ih``, ``bias_hh = 0``; the gate
order i, f, c, o is torch's), outputs equal the Keras 3.15 models' within 1.2e-7 (checked once, see paper_cnn).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from zoo.encoding import TOKENS, Encoding, kmer_index
from zoo.models import fastlstm, fastpath
from zoo.models.base import ZooModel
from zoo.errors import UserError
from zoo.models.paper_cnn import check_seq_len, keras_init_, shrink
from zoo.registry import register_model

__all__ = ["DeepRAM"]


class DeepRAM(ZooModel):
    """Input Dropout, optional Conv1D + ReLU stack, optional LSTM stack, Dense (linear), Dropout, head.

    * ``embedding_dim = 0``: one-hot k-mer input with ``4**k * (region + 1)`` channels; otherwise an embedding
      of :data:`zoo.encoding.TOKENS` of that width.
    * ``conv_filters``: Conv1D layers (kernel ``kernel_size``, 'valid'). Without LSTMs a MaxPool1D 2 follows every
      convolution but the last, and the last ends in GlobalMaxPool1D; with LSTMs one follows every convolution.
    * ``lstm_units``: stacked LSTMs; all but the last return every step, the last its final hidden state.
    """

    #: Devices where the first LSTM of a one-hot model runs :func:`zoo.models.fastlstm.gathered_lstm` on word ids;
    #: elsewhere (cuDNN) it gets the dropped one-hot, built from the word ids by a scatter.
    gathered_lstm_devices: tuple[str, ...] = ("cpu",)

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 embedding_dim: int = 0, conv_filters: Sequence[int] = (64, 128), kernel_size: int = 3,
                 lstm_units: Sequence[int] = (), dense: int = 128, dropout: float = 0.5, k: int = 3,
                 region: int = 2):
        super().__init__(num_classes, seq_len, label_names)
        if not conv_filters and not lstm_units:
            raise UserError("DeepRAM needs convolutions, LSTMs or both; give conv_filters or lstm_units")
        self.embedding_dim, self.k, self.region = int(embedding_dim), int(k), int(region)
        ops = [("conv", kernel_size), ("pool", 2)] * len(conv_filters)
        ops = ops if lstm_units else ops[:-1]
        steps = (lambda n: n) if embedding_dim else (lambda n: n - self.k + 1)
        check_seq_len(f"{type(self).__name__} with conv_filters {list(conv_filters)}", self.seq_len,
                      lambda n: shrink(steps(n), ops) > 0)
        self.embedding = nn.Embedding(len(TOKENS), embedding_dim, padding_idx=0) if embedding_dim else None
        in_ch = embedding_dim or self.encoding.shape()[0]
        self.input_dropout = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        for i, f in enumerate(conv_filters):
            layers += [nn.Conv1d(in_ch, f, kernel_size), nn.ReLU()]
            if lstm_units or i < len(conv_filters) - 1:
                layers.append(nn.MaxPool1d(2))
            in_ch = f
        self.convs = nn.Sequential(*layers)
        self.lstms = nn.ModuleList()
        for units in lstm_units:
            self.lstms.append(nn.LSTM(in_ch, units, batch_first=True))
            in_ch = units
        self.dense = nn.Sequential(nn.Linear(in_ch, dense), nn.Dropout(dropout))
        self.head = nn.Linear(dense, self.num_outputs)
        keras_init_(self)

    @property
    def encoding(self) -> Encoding:
        if self.embedding is not None:
            return Encoding(kind="tokens", length=self.seq_len)
        return Encoding(kind="kmer_seq", length=self.seq_len, k=self.k, region=self.region)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(x).transpose(1, 2)  # (N, E, L): channels first like the one-hot input
            x = self.convs(self.input_dropout(x))
        elif x.dim() == 2 and not len(self.convs):  # k-mer word ids: the first LSTM gathers its input kernel
            return self._recurrent(self._gathered_first_lstm(x))
        elif x.dim() == 2:  # k-mer word ids (fast_input): the first convolution gathers kernel columns
            x = self._pool_first(self.convs[1:], self._gathered_first_conv(x))
        else:
            # The k-mer one-hot arrives as uint8 0/1; computed in the parameters' dtype (float32, or .double())
            x = self.convs(self.input_dropout(x.to(self.head.weight.dtype)))
        if len(self.lstms):
            return self._recurrent(x.transpose(1, 2), self.lstms)  # (N, steps, features): batch_first LSTMs
        return self.head(self.dense(torch.amax(x, dim=2)))  # GlobalMaxPool1D

    @staticmethod
    def _pool_first(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """``layers(x)`` with every ReLU followed by a MaxPool1d run after it instead: ``pool(relu(z)) ==
        relu(pool(z))``, with the same gradients (the pooling's first maximum is the same element wherever the ReLU
        lets a gradient through), on half the values."""
        mods = list(layers)
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.ReLU) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.MaxPool1d):
                x = torch.relu(mods[i + 1](x))
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def _recurrent(self, x: torch.Tensor, lstms: Sequence[nn.LSTM] | None = None) -> torch.Tensor:
        """``lstms`` (default: all but the first) over ``(N, steps, features)``, then Dense, Dropout and the head."""
        lstms = self.lstms[1:] if lstms is None else lstms
        for lstm in lstms[:-1]:
            x, _ = lstm(x)
        if len(lstms):
            _, (h, _) = lstms[-1](x)
            x = h[-1]
        else:
            x = x[:, -1]
        return self.head(self.dense(x))

    def _gathered_first_lstm(self, words: torch.Tensor) -> torch.Tensor:
        """Input dropout and the first LSTM on the one-hot of k-mer ``words`` ``(N, P)``, without the one-hot:
        every hidden state ``(N, P, H)``, as ``self.lstms[0](self.input_dropout(one_hot).transpose(1, 2))[0]``
        (:func:`zoo.models.fastlstm.gathered_lstm`; the dropout mask is drawn per position and region block, as in
        :meth:`_gathered_first_conv`)."""
        R, V = self.region + 1, 4 ** self.k
        keep, p = None, self.input_dropout.p
        if self.training and p > 0:
            keep = torch.empty(*words.shape, R, device=words.device, dtype=self.head.weight.dtype)
            keep.bernoulli_(1 - p).div_(1 - p)
        if words.device.type in self.gathered_lstm_devices:
            return fastlstm.gathered_lstm(words, self.lstms[0], V, R, keep)
        # Elsewhere (cuDNN) the fused library LSTM is faster than a loop over steps: give it the dropped one-hot.
        idx = fastlstm.onehot_window_index(words, V, R).transpose(0, 1)  # (N, P, R) rows of R blocks of V + 1
        x = torch.zeros(*idx.shape[:2], R * (V + 1), device=words.device, dtype=self.head.weight.dtype)
        x.scatter_(2, idx, keep if keep is not None else x.new_ones(idx.shape))
        return self.lstms[0](x.view(*idx.shape[:2], R, V + 1)[..., :V].reshape(*idx.shape[:2], R * V))[0]


    def _gathered_first_conv(self, words: torch.Tensor) -> torch.Tensor:
        """Input dropout and the first Conv1d on the one-hot of k-mer ``words`` ``(N, P)``, without the one-hot:
        ``(N, F, P-K+1)``, as ``self.convs[0](self.input_dropout(one_hot))``.

        The one-hot holds one 1 per position and region block; dropout keeps each with probability ``1 - p``
        (scaled by ``1 / (1 - p)``) and its zeros stay zero, so a mask of ``(N, P, blocks)`` draws is the same
        distribution as torch's over the whole ``(N, 192, P)`` tensor (the drawn values differ: a run is not
        bit-identical to one that built the one-hot). Each output position adds, for every tap ``t`` and block
        ``j``, the kernel column of the word at ``p + t + j`` times its mask (``embedding_bag`` with per-sample
        weights); gradients reach the kernel through the gathered table."""
        conv = self.convs[0]
        out_ch, _, K = conv.weight.shape
        V, R = 4 ** self.k, self.region + 1
        n, P = words.shape
        p_out = P - K + 1
        w = torch.cat([conv.weight.view(out_ch, R, V, K).permute(3, 1, 2, 0),
                       conv.weight.new_zeros(K, R, 1, out_ch)], dim=2)  # (K, R, V + 1, F); row V: zero
        table = w.reshape(K * R * (V + 1), out_ch)
        padded = torch.nn.functional.pad(words.masked_fill(words < 0, V), (0, R - 1), value=V)
        windows = padded.unfold(1, K + R - 1, 1)[:, :p_out]  # (N, P_out, K + R - 1): words at p + s
        taps = torch.tensor([t + j for t in range(K) for j in range(R)], device=words.device)
        idx = windows[:, :, taps] + torch.arange(K * R, device=words.device) * (V + 1)
        weights = None
        p = self.input_dropout.p
        if self.training and p > 0:
            keep = torch.empty(n, P, R, device=words.device, dtype=table.dtype)  # (position, block)
            keep.bernoulli_(1 - p).div_(1 - p)
            weights = keep.unfold(1, K, 1).permute(0, 1, 3, 2).reshape(n * p_out, K * R)  # [p, (t, j)]
        out = fastpath.gather_rows(idx.reshape(n * p_out, K * R), table, weights)
        return out.add_(conv.bias).view(n, p_out, out_ch).transpose(1, 2)  # backward needs no output

    # ----------------------------------------------------------------------------------- fast inference
    def fast_input(self, codes: np.ndarray) -> torch.Tensor:
        """k-mer word ids ``(N, L-k+1)`` (-1 where the window holds N/PAD) instead of the 192-channel one-hot
        (which :meth:`forward` also accepts, for training too); tokens for the embedding models."""
        if self.embedding is not None:
            return super().fast_input(codes)
        return torch.from_numpy(kmer_index(codes, self.k))

    def inference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in eval mode, rewritten exactly (see :mod:`zoo.models.fastpath`): the first convolution
        as gathered kernel columns (never the one-hot or the embedded sequence), everything after it channels
        last (the LSTMs' own layout), pooling before the ReLU, activations in place."""
        if self.training or not len(self.convs):
            return self(x)
        convs = [m for m in self.convs if isinstance(m, nn.Conv1d)]
        first = convs[0]
        K = first.kernel_size[0]
        if self.embedding is not None:
            vocab = self.embedding.num_embeddings
            table = fastpath.word_table_1d(first.weight, vocab, embedding=self.embedding.weight)
        else:
            vocab = 4 ** self.k
            table = fastpath.word_table_1d(first.weight, vocab, blocks=self.region + 1)
        h = fastpath.gather_conv(x, table, first.bias, vocab, K)  # (N, steps, F)
        for i, conv in enumerate(convs):
            if i:
                h = fastpath.conv1d_cl(h, conv)
            if len(self.lstms) or i < len(convs) - 1:
                h = fastpath.maxpool_cl(h, 2)
            else:
                h = torch.amax(h, dim=1)  # GlobalMaxPool1D
            h = torch.relu_(h)
        if len(self.lstms):
            for lstm in self.lstms[:-1]:
                h, _ = lstm(h)
            _, (hn, _) = self.lstms[-1](h)
            h = hn[-1]
        return self.head(self.dense(h))


def _create(defaults: dict[str, Any], kwargs: dict[str, Any]) -> DeepRAM:
    """Build a :class:`DeepRAM` from the variant's defaults overridden by the caller's arguments."""
    return DeepRAM(**{**defaults, **kwargs})


_CONV = dict(conv_filters=[64, 128], lstm_units=[])
_CONV_RECURRENT = dict(conv_filters=[64, 128], lstm_units=[64, 128])
_RECURRENT = dict(conv_filters=[], lstm_units=[64, 128])
_EMBED = dict(embedding_dim=256)


@register_model(family="deepram")
def deepram_conv1d_onehot(**kwargs: Any) -> DeepRAM:
    """Dropout 0.5, Conv1D 64, MaxPool, Conv1D 128, GlobalMaxPool, Dense 128, Dropout 0.5; one-hot 3-mers (r=2)."""
    return _create(_CONV, kwargs)


@register_model(family="deepram")
def deepram_conv1d_embed(**kwargs: Any) -> DeepRAM:
    """Embedding 256, then as ``deepram_conv1d_onehot``; token input."""
    return _create({**_CONV, **_EMBED}, kwargs)


@register_model(family="deepram")
def deepram_conv1d_recurrent_onehot(**kwargs: Any) -> DeepRAM:
    """Dropout 0.5, Conv1D 64, 128 (each MaxPool), LSTM 64, LSTM 128, Dense 128, Dropout 0.5; one-hot 3-mers."""
    return _create(_CONV_RECURRENT, kwargs)


@register_model(family="deepram")
def deepram_conv1d_recurrent_embed(**kwargs: Any) -> DeepRAM:
    """Embedding 256, then as ``deepram_conv1d_recurrent_onehot``; token input."""
    return _create({**_CONV_RECURRENT, **_EMBED}, kwargs)


@register_model(family="deepram")
def deepram_recurrent_onehot(**kwargs: Any) -> DeepRAM:
    """Dropout 0.5, LSTM 64 (sequences), LSTM 128 (last), Dense 128, Dropout 0.5; one-hot 3-mers (r=2)."""
    return _create(_RECURRENT, kwargs)


@register_model(family="deepram")
def deepram_recurrent_embed(**kwargs: Any) -> DeepRAM:
    """Embedding 256, then as ``deepram_recurrent_onehot``; token input."""
    return _create({**_RECURRENT, **_EMBED}, kwargs)
