"""The training rewrites of zoo.models.fastlstm and zoo.models.fastpath (issue #24) against the plain torch modules: the same
outputs and the same gradients of every parameter (and of the input, where it has one) within 1e-5."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.models import fastpath
from zoo.models.fastlstm import dense_lstm, gathered_lstm


def _one_hot(words: torch.Tensor, vocab: int, blocks: int, keep: torch.Tensor | None) -> torch.Tensor:
    """The k-mer one-hot ``(N, blocks * vocab, P)`` (block j at column p holds the word at p + j) times ``keep``."""
    n, P = words.shape
    x = torch.zeros(n, blocks * vocab, P)
    for j in range(blocks):
        for p in range(P - j):
            w = words[:, p + j]
            rows = (w >= 0).nonzero().view(-1)
            x[rows, j * vocab + w[rows], p] = 1.0 if keep is None else keep[rows, p, j]
    return x


def _random_lstm(cin: int, hidden: int, seed: int) -> nn.LSTM:
    torch.manual_seed(seed)
    lstm = nn.LSTM(cin, hidden, batch_first=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return lstm


def _outputs_and_grads(run, module: nn.Module, weight: torch.Tensor):
    module.zero_grad()
    out = run()
    (out * weight).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in module.named_parameters()}


@pytest.mark.parametrize("blocks,dropout", [(3, True), (3, False), (1, True)])
def test_gathered_lstm_is_nn_lstm_on_the_dropped_one_hot(blocks, dropout):
    vocab, hidden = 16, 8
    g = torch.Generator().manual_seed(1)
    words = torch.randint(-1, vocab, (5, 11), generator=g)  # -1: a window holding N (a zero column)
    keep = torch.empty(5, 11, blocks).bernoulli_(0.5, generator=g).mul_(2) if dropout else None
    lstm = _random_lstm(blocks * vocab, hidden, 2)
    weight = torch.randn(5, 11, hidden, generator=g) / 55
    plain = _outputs_and_grads(lambda: lstm(_one_hot(words, vocab, blocks, keep).transpose(1, 2))[0], lstm, weight)
    fast = _outputs_and_grads(lambda: gathered_lstm(words, lstm, vocab, blocks, keep), lstm, weight)
    torch.testing.assert_close(fast[0], plain[0], rtol=0, atol=1e-5)
    for name in plain[1]:
        assert fast[1][name].abs().sum() > 0
        torch.testing.assert_close(fast[1][name], plain[1][name], rtol=0, atol=1e-5, msg=name)


@pytest.mark.parametrize("steps", [1, 13])
def test_dense_lstm_is_nn_lstm_with_input_gradient(steps):
    lstm = _random_lstm(6, 10, 3)
    x = torch.randn(4, steps, 6, requires_grad=True)
    weight = torch.randn(4, steps, 10) / (4 * steps)
    outs = []
    for run in (lambda: lstm(x)[0], lambda: dense_lstm(x, lstm)):
        x.grad = None
        out, grads = _outputs_and_grads(run, lstm, weight)
        outs.append((out, grads, x.grad.clone()))
    (p_out, p_grads, p_dx), (f_out, f_grads, f_dx) = outs
    torch.testing.assert_close(f_out, p_out, rtol=0, atol=1e-5)
    torch.testing.assert_close(f_dx, p_dx, rtol=0, atol=1e-5)
    for name in p_grads:
        torch.testing.assert_close(f_grads[name], p_grads[name], rtol=0, atol=1e-5, msg=name)


def test_fast_lstm_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError):
        dense_lstm(torch.zeros(2, 3, 4), nn.LSTM(4, 5, num_layers=2, batch_first=True))


@pytest.mark.parametrize("blocks", [1, 3])
def test_stamp_conv_is_conv2d_on_the_one_hot_image(blocks):
    vocab = 16
    g = torch.Generator().manual_seed(4)
    words = torch.randint(-1, vocab, (3, 12), generator=g)
    conv = nn.Conv2d(1, 5, 3, bias=False)
    image = _one_hot(words, vocab, blocks, None).transpose(1, 2).unsqueeze(1)  # (N, 1, P, blocks * vocab)
    weight = torch.randn(3, 5, 10, blocks * vocab - 2, generator=g) / 100
    plain = _outputs_and_grads(lambda: conv(image), conv, weight)
    fast = _outputs_and_grads(lambda: fastpath.stamp_conv(words, conv.weight, vocab, blocks).permute(0, 3, 1, 2),
                              conv, weight)
    torch.testing.assert_close(fast[0], plain[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(fast[1]["weight"], plain[1]["weight"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("blocks,length", [(1, 14), (3, 15)])  # even and odd (a row the pooling drops) heights
def test_stamp_conv_pool_is_max_pool_of_conv2d_on_the_one_hot_image(blocks, length):
    vocab = 16
    g = torch.Generator().manual_seed(6)
    words = torch.randint(-1, vocab, (3, length), generator=g)
    conv = nn.Conv2d(1, 5, 3, bias=False)
    image = _one_hot(words, vocab, blocks, None).transpose(1, 2).unsqueeze(1)
    out_h, out_w = (length - 2) // 2, (blocks * vocab - 2) // 2
    weight = torch.randn(3, 5, out_h, out_w, generator=g) / 100
    plain = _outputs_and_grads(lambda: nn.functional.max_pool2d(conv(image), 2), conv, weight)
    fast = _outputs_and_grads(lambda: fastpath.stamp_conv_pool(words, conv.weight, vocab, blocks), conv, weight)
    torch.testing.assert_close(fast[0], plain[0], rtol=0, atol=1e-5)
    assert fast[1]["weight"].abs().sum() > 0
    torch.testing.assert_close(fast[1]["weight"], plain[1]["weight"], rtol=0, atol=1e-5)


def test_gather_rows_backward_is_embedding_bags():
    g = torch.Generator().manual_seed(5)
    table = torch.randn(9, 4, generator=g, requires_grad=True)
    idx = torch.randint(0, 9, (7, 3), generator=g)
    weights = torch.rand(7, 3, generator=g)
    upstream = torch.randn(7, 4, generator=g)
    grads = []
    for fn in (lambda: nn.functional.embedding_bag(idx, table, mode="sum", per_sample_weights=weights),
               lambda: fastpath.gather_rows(idx, table, weights)):
        table.grad = None
        (fn() * upstream).sum().backward()
        grads.append(table.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-6)
