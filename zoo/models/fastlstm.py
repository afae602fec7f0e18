"""An exact LSTM layer for training on the CPU whose input is a k-mer one-hot (gathered, never built) or a dense
sequence: the forward recurrence with preallocated gate buffers and a hand-written backward through time.

Why: torch's CPU ``nn.LSTM`` (oneDNN) multiplies the dropped-out k-mer one-hot (``64 (r+1)`` channels holding
``r+1`` non-zeros per step) by the input kernel as a dense matrix, in the forward pass and twice more in the
backward one (kernel and input gradients). For ``deepram_recurrent_onehot`` on splice that is a third of the
layer's work. Here the input projection of every step is one ``embedding_bag`` (kernel columns gathered and
weighted by the dropout mask, as :meth:`zoo.models.deepram.DeepRAM._gathered_first_conv` does for a
convolution), its backward a scatter-add of the gate gradients into those columns, and no input gradient is made
(the one-hot is data).

What is computed is the function of ``nn.LSTM`` (one layer, zero initial state, torch's gate order i, f, g, o and
its two biases): ``gates_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh``; ``c_t = f c_{t-1} + i g``;
``h_t = o tanh(c_t)``. Internally the gates are kept in the order (o, i, f, g) so that one in-place sigmoid and
one tanh activate a step; the weights are permuted on the way in and their gradients on the way out. The
backward pass precomputes, for all steps at once, the factors each gate gradient needs (``o (1 - o) tanh c``,
``o (1 - tanh^2 c)``, ...), leaving five small operations and one ``(N, 4H) x (4H, H)`` product per step; the
recurrent kernel's gradient is one matrix product over all steps. tests/test_training_rewrites.py checks outputs and every
parameter gradient against ``nn.LSTM`` within 1e-5.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models import fastpath

__all__ = ["gathered_lstm", "dense_lstm", "onehot_window_index"]


def _gate_order(hidden: int, device: torch.device) -> torch.Tensor:
    """Row permutation from torch's gate order (i, f, g, o) to the internal one (o, i, f, g)."""
    h = hidden
    return torch.cat([torch.arange(3 * h, 4 * h), torch.arange(0, 3 * h)]).to(device)


def onehot_window_index(words: torch.Tensor, vocab: int, blocks: int) -> torch.Tensor:
    """``(N, P)`` k-mer word ids (-1 for a window holding N/PAD) -> ``(P, N, blocks)`` rows of the gathered table
    (time major): step ``t`` of the one-hot holds, in block ``j``, the word at ``t + j``; row ``vocab`` of each
    block is the zero row (N/PAD and positions past the end, which the one-hot leaves zero)."""
    n, P = words.shape
    w = words.masked_fill(words < 0, vocab)
    if blocks > 1:
        w = F.pad(w, (0, blocks - 1), value=vocab)
    idx = w.unfold(1, blocks, 1)[:, :P] + torch.arange(blocks, device=words.device) * (vocab + 1)
    return idx.transpose(0, 1).contiguous()


class _Recurrence(torch.autograd.Function):
    """The recurrence of one LSTM layer from its input gates: ``gx`` ``(T, N, 4H)`` (input projection and both
    biases, internal gate order o, i, f, g) and the recurrent kernel ``w_hh`` ``(4H, H)`` in that order; returns
    every hidden state ``(T, N, H)`` (zero initial state)."""

    @staticmethod
    def forward(ctx, gx, w_hh):
        T, N, G = gx.shape
        H = G // 4
        gates = gx.clone()  # becomes the activated gates, step by step
        cells, tanh_c, hs = (gates.new_empty(T, N, H) for _ in range(3))
        w_hh_t = w_hh.t()
        for t in range(T):
            a = gates[t]
            if t:
                a.addmm_(hs[t - 1], w_hh_t)
            a[:, :3 * H].sigmoid_()
            a[:, 3 * H:].tanh_()
            if t:
                torch.mul(a[:, 2 * H:3 * H], cells[t - 1], out=cells[t])
                cells[t].addcmul_(a[:, H:2 * H], a[:, 3 * H:])
            else:
                torch.mul(a[:, H:2 * H], a[:, 3 * H:], out=cells[t])
            torch.tanh(cells[t], out=tanh_c[t])
            torch.mul(a[:, :H], tanh_c[t], out=hs[t])
        ctx.save_for_backward(w_hh, gates, cells, tanh_c, hs)
        return hs

    @staticmethod
    def backward(ctx, d_hs):
        w_hh, gates, cells, tanh_c, hs = ctx.saved_tensors
        T, N, H = hs.shape
        d_hs = d_hs.contiguous()
        o, i, f, g = (gates[..., k * H:(k + 1) * H] for k in range(4))
        c_prev = torch.cat([cells.new_zeros(1, N, H), cells[:-1]])
        k_o = tanh_c * o * (1 - o)                      # d gate_o = dh * k_o
        k_c = o * (1 - tanh_c * tanh_c)                 # dc = dh * k_c + the dc carried from step t + 1
        k_ifg = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], dim=2)  # (T, N, 3, H)
        d_gates = gates.new_empty(T, N, 4 * H)
        carry = None
        dh = d_hs[T - 1]
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                dh = torch.addmm(d_hs[t], d_gates[t + 1], w_hh)
            dg = d_gates[t]
            torch.mul(dh, k_o[t], out=dg[:, :H])
            dc = dh * k_c[t] if carry is None else torch.addcmul(carry, dh, k_c[t])
            torch.mul(k_ifg[t], dc.unsqueeze(1), out=dg[:, H:].view(N, 3, H))
            if t:
                carry = dc * f[t]
        d_w_hh = None
        if ctx.needs_input_grad[1]:
            d_w_hh = d_gates[1:].reshape(-1, 4 * H).t().mm(hs[:-1].reshape(-1, H)) if T > 1 else \
                torch.zeros_like(w_hh)
        return d_gates, d_w_hh


def _check(lstm: nn.LSTM) -> None:
    if lstm.num_layers != 1 or lstm.bidirectional or not lstm.bias or lstm.proj_size:
        raise ValueError("the fast LSTM takes a one-layer, one-direction LSTM with biases and no projection")


def _permuted(lstm: nn.LSTM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(w_ih, w_hh, b_ih + b_hh)`` with their gate rows in the internal order (differentiable)."""
    perm = _gate_order(lstm.hidden_size, lstm.weight_hh_l0.device)
    return lstm.weight_ih_l0[perm], lstm.weight_hh_l0[perm], (lstm.bias_ih_l0 + lstm.bias_hh_l0)[perm]


def dense_lstm(x: torch.Tensor, lstm: nn.LSTM) -> torch.Tensor:
    """``lstm(x)[0]`` for a batch-first ``(N, T, C)`` input: the input projection of all steps in one product,
    then :class:`_Recurrence`. Returns ``(N, T, H)`` (a time-major buffer seen batch first)."""
    _check(lstm)
    w_ih, w_hh, bias = _permuted(lstm)
    gx = torch.addmm(bias, x.transpose(0, 1).reshape(-1, x.shape[2]), w_ih.t()).view(x.shape[1], x.shape[0], -1)
    return _Recurrence.apply(gx, w_hh).transpose(0, 1)


def gathered_lstm(words: torch.Tensor, lstm: nn.LSTM, vocab: int, blocks: int,
                  keep: torch.Tensor | None = None) -> torch.Tensor:
    """``lstm`` (one layer, batch first, zero initial state) over the k-mer one-hot of ``words`` ``(N, P)`` with
    ``blocks`` region blocks of ``vocab`` channels, times the dropout factors ``keep`` ``(N, P, blocks)`` (one per
    non-zero of the one-hot; ``None``: none). Returns every hidden state, ``(N, P, H)`` (a time-major buffer seen
    batch first), as ``lstm(one_hot.transpose(1, 2))[0]`` with ``one_hot`` of shape ``(N, blocks * vocab, P)``."""
    _check(lstm)
    w_ih, w_hh, bias = _permuted(lstm)
    G = w_ih.shape[0]
    # (blocks * (vocab + 1), 4H): block j's kernel columns as rows, then a zero row.
    table = torch.cat([w_ih.view(G, blocks, vocab).permute(1, 2, 0), w_ih.new_zeros(blocks, 1, G)], dim=1)
    idx = onehot_window_index(words, vocab, blocks)  # (T, N, blocks)
    T, N, _ = idx.shape
    weights = None if keep is None else keep.transpose(0, 1).reshape(T * N, blocks)
    gx = fastpath.gather_rows(idx.view(T * N, blocks), table.reshape(-1, G), weights)
    return _Recurrence.apply((gx + bias).view(T, N, G), w_hh).transpose(0, 1)
