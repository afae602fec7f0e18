"""The inference fast paths (``fast_input`` + ``inference_forward``, see zoo.models.fastpath) are exact rewrites:
for every registered model, on the study's geometries, they give the plain forward's probabilities within 1e-5,
with N bases, padded (short) and cropped (long) sequences, and non-zero biases and BatchNorm statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.encoding import encode_codes, to_codes
from zoo.registry import study_kwargs

MODELS = zoo.list_models()
#: Architectures whose inference_forward is a rewrite (not the plain forward): they must really take it.
REWRITTEN = {"deepram_conv1d_onehot", "deepram_conv1d_embed", "deepram_conv1d_recurrent_onehot",
             "deepram_conv1d_recurrent_embed", "deepram_recurrent_onehot", "cnn_nguyen_2_conv2d", "genonet_small"}


def _sequences(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=length)) for _ in range(n)]
    seqs[1] = seqs[1][: length // 2]      # padded
    seqs[2] = seqs[2] + "ACGTTGCA" * 3    # cropped
    seqs[3] = "N" * length                # nothing but N
    return seqs


@torch.no_grad()
def _randomize(model: nn.Module, seed: int) -> None:
    """Non-zero biases and BatchNorm statistics (Keras initializes biases to zero, which would hide a missing
    bias); the weights keep their Keras initialization so the logits stay in a realistic range."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("geometry", ["splice", "motif"])
@pytest.mark.parametrize("name", MODELS)
def test_inference_forward_matches_the_plain_forward(name, geometry):
    torch.manual_seed(0)
    model = zoo.create_model(name, **study_kwargs(name, geometry))
    _randomize(model, 1)
    model.eval()
    enc = model.encoding
    codes = to_codes(_sequences(12, enc.length), enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity)
    with torch.inference_mode():
        plain = model.probabilities(model(encode_codes(codes, enc)))
        x = model.fast_input(codes)
        fast = model.probabilities(model.inference_forward(x))
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)
    if name in REWRITTEN:  # the rewrite never builds the one-hot / embedded input
        assert x.dtype == torch.int64 and x.dim() == 2
        assert type(model).inference_forward is not zoo.models.base.ZooModel.inference_forward


@pytest.mark.parametrize("name", sorted(REWRITTEN))
def test_the_rewrite_also_matches_in_channels_last_and_on_published_sizes(name):
    """As zoo.predict runs it: the model moved to its preferred layout, batch of 256."""
    from zoo.models.base import preferred_memory_format

    torch.manual_seed(0)
    model = zoo.create_model(name, **study_kwargs(name, "motif"))
    _randomize(model, 2)
    model.eval().to(memory_format=preferred_memory_format(model, torch.device("cpu")))
    enc = model.encoding
    codes = to_codes(_sequences(256, enc.length, seed=3), enc.length)
    with torch.inference_mode():
        plain = model.probabilities(model(encode_codes(codes, enc)))
        fast = model.probabilities(model.inference_forward(model.fast_input(codes)))
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", [{"rc_average": True}, {"gru_units": 0}, {"pool": 1}, {"kmer": 0},
                                     {"flatten_channels": 0}, {"dilations": [1, 3], "kernel_size": 3, "stem_kernel": 5},
                                     {"seq_len": 500}, {"seq_len": 3, "pool": 2},
                                     {"seq_len": 500, "position_bins": 32}, {"position_bins": 7}])
def test_genonet_rewrite_matches_every_variant(variant):
    """GenoNet's rewrite (folded BatchNorm, time-major dilated convolutions, both GRU directions stepped together,
    k-mer counts from base indices) on the ablation's switches, strand averaging, the histone length and a length
    shorter than the k-mer."""
    torch.manual_seed(0)
    model = zoo.create_model("genonet_small", **{**study_kwargs("genonet_small", "motif"), **variant})
    _randomize(model, 5)
    model.eval()
    enc = model.encoding
    codes = to_codes(_sequences(12, max(enc.length, 4), seed=6), enc.length)
    with torch.inference_mode():
        plain = model.probabilities(model(encode_codes(codes, enc)))
        fast = model.probabilities(model.inference_forward(model.fast_input(codes)))
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)


def test_doc2vec_newton_on_word_scores_gives_the_paragraph_vectors_of_newton_on_them(monkeypatch):
    """With fewer words than dimensions (3-mers, 100 dimensions) inference iterates on the word scores; the same
    iteration on the vectors themselves (the original formulation) gives the same vectors."""
    from zoo.models import doc2vec as pv

    torch.manual_seed(0)
    U, noise = torch.randn(64, 100) * 0.3, torch.softmax(torch.randn(64), 0)
    counts = torch.poisson(torch.full((16, 64), 1.5))
    counts[3] = 0  # a document with no valid word
    fast = pv.infer_paragraph_vectors(counts, U, noise, negative=5, l2=1.0, iters=8)
    monkeypatch.setattr(pv, "_gram_inverse", lambda U: None)
    plain = pv.infer_paragraph_vectors(counts, U, noise, negative=5, l2=1.0, iters=8)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)
    assert fast.abs().sum() > 0


@pytest.mark.parametrize("geometry", ["splice", "motif"])
@pytest.mark.parametrize("name", ["cnn_nguyen_2_conv2d", "deepram_conv1d_onehot", "deepram_conv1d_recurrent_onehot",
                                  "deepram_recurrent_onehot", "genonet_small"])
def test_training_on_word_ids_gives_the_one_hot_models_outputs_and_gradients(name, geometry):
    """Training takes fast_input too (zoo.engine): forward on word ids equals forward on the one-hot, gradients
    included, in training mode (the DeepRAM input dropout off here: its mask is drawn per position, see below;
    tests/test_training_rewrites.py checks the first LSTM with a mask)."""
    torch.manual_seed(0)
    model = zoo.create_model(name, **study_kwargs(name, geometry))
    _randomize(model, 4)
    if hasattr(model, "input_dropout"):
        model.input_dropout.p = 0.0
    model.train()
    enc = model.encoding
    codes = to_codes(_sequences(16, enc.length, seed=5), enc.length)
    y = torch.arange(16) % model.num_classes
    results = []
    for x in (encode_codes(codes, enc), model.fast_input(codes)):
        model.zero_grad()
        torch.manual_seed(7)  # the same dense-layer dropout masks on both passes
        loss = model.loss(model(x), y)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    assert model.fast_input(codes).dtype == torch.int64
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    for g_fast, g_plain in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(g_fast, g_plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gathered", [True, False])
def test_deepram_recurrent_first_lstm_on_word_ids_with_its_dropout_mask(gathered):
    """With a given mask, the first LSTM on word ids is the LSTM on the dropped one-hot, gradients included, on the
    CPU path (gathered kernel columns) and on the one taken elsewhere (the one-hot scattered from the word ids)."""
    torch.manual_seed(0)
    model = zoo.create_model("deepram_recurrent_onehot", **study_kwargs("deepram_recurrent_onehot", "splice"))
    _randomize(model, 6)
    model.train()
    if not gathered:
        model.gathered_lstm_devices = ()
    codes = to_codes(_sequences(6, model.seq_len, seed=8), model.seq_len)
    words = model.fast_input(codes)
    one_hot = encode_codes(codes, model.encoding).float()
    torch.manual_seed(3)
    keep = torch.empty(*words.shape, model.region + 1).bernoulli_(0.5).mul_(2)
    mask = torch.zeros_like(one_hot)  # (N, 192, P): block j of column p is the word at p + j
    for j in range(model.region + 1):
        mask[:, j * 64:(j + 1) * 64] = keep[:, :, j].unsqueeze(1)
    upstream = torch.randn(6, words.shape[1], 64) / 100
    grads = []
    for run in (lambda: model.lstms[0]((one_hot * mask).transpose(1, 2))[0],
                lambda: model._gathered_first_lstm(words)):
        model.zero_grad()
        torch.manual_seed(3)  # _gathered_first_lstm draws the same mask
        out = run()
        (out * upstream).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.lstms[0].parameters()]))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=0, atol=1e-5)
    for g_fast, g_plain in zip(grads[1][1], grads[0][1]):
        torch.testing.assert_close(g_fast, g_plain, rtol=0, atol=1e-5)


def test_deepram_input_dropout_on_word_ids_is_the_one_hot_dropout_in_distribution():
    """Dropout keeps each 1 of the one-hot with probability 1 - p, scaled: on average the first convolution's
    output is the undropped one, and a single draw differs from it."""
    torch.manual_seed(0)
    model = zoo.create_model("deepram_conv1d_onehot", **study_kwargs("deepram_conv1d_onehot", "splice"))
    _randomize(model, 5)
    codes = to_codes(_sequences(4, model.seq_len, seed=6), model.seq_len)
    words = model.fast_input(codes)
    with torch.no_grad():
        model.eval()
        plain = model.convs[0](encode_codes(codes, model.encoding).float())
        model.train()
        draws = torch.stack([model._gathered_first_conv(words) for _ in range(400)])
    assert not torch.allclose(draws[0], plain, atol=1e-3)
    mean_err = (draws.mean(0) - plain).abs().mean() / plain.abs().mean()
    assert mean_err < 0.05, mean_err


def test_nguyen_stamp_table_follows_the_weights():
    """The stamp table is kept between calls; a change of the first kernel (training, load_state_dict) rebuilds
    it, so the rewrite still matches the plain forward."""
    torch.manual_seed(0)
    model = zoo.create_model("cnn_nguyen_2_conv2d", **study_kwargs("cnn_nguyen_2_conv2d", "splice")).eval()
    enc = model.encoding
    codes = to_codes(_sequences(40, enc.length, seed=4), enc.length)
    with torch.inference_mode():
        before = model.inference_forward(model.fast_input(codes))
    with torch.no_grad():
        model.features[0].weight.mul_(-2.0)
    with torch.inference_mode():
        after = model.inference_forward(model.fast_input(codes))
        plain = model(encode_codes(codes, enc))
    torch.testing.assert_close(after, plain, rtol=0, atol=1e-5)
    assert not torch.allclose(before, after, atol=1e-3)


def test_genonet_inference_weights_follow_the_weights():
    """GenoNet keeps its derived inference weights (stem table, folded BatchNorms, arranged GRU) between calls; an
    optimizer step, ``load_state_dict`` and a trip through ``train()`` each rebuild them, so the rewrite still
    matches the plain forward."""
    torch.manual_seed(0)
    model = zoo.create_model("genonet_small", **study_kwargs("genonet_small", "motif"))
    _randomize(model, 5)
    model.eval()
    enc = model.encoding
    codes = to_codes(_sequences(12, enc.length, seed=6), enc.length)

    def check() -> torch.Tensor:
        with torch.inference_mode():
            fast = model.inference_forward(model.fast_input(codes))
            torch.testing.assert_close(fast, model(encode_codes(codes, enc)), rtol=0, atol=1e-5)
        return fast

    first = check()
    assert check() is not first and model._inference_weights() is model._inference_weights()  # kept
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    model.loss(model(model.fast_input(codes)), torch.zeros(len(codes), dtype=torch.long)).backward()
    opt.step()
    model.eval()
    stepped = check()
    assert not torch.allclose(first, stepped, atol=1e-3)
    model.load_state_dict({k: v * 1.5 if v.is_floating_point() else v for k, v in model.state_dict().items()})
    assert not torch.allclose(stepped, check(), atol=1e-3)
    for p in model.gru.parameters():  # written through .data (no version bump): train()/eval() forget them
        p.data.mul_(0.5)
    model.train().eval()
    check()


def test_genonet_rewrite_runs_the_same_without_torchscript(monkeypatch):
    """Where TorchScript is unavailable, ``fastpath._compiled`` hands back the plain Python functions: GenoNet's
    inference (``genonet_logits``, the convolution taps, the GRU loop) gives the same logits from Python."""
    from zoo.models import fastpath

    torch.manual_seed(0)
    model = zoo.create_model("genonet_small", **{**study_kwargs("genonet_small", "motif"), "rc_average": True})
    _randomize(model, 5)
    model.eval()
    codes = to_codes(_sequences(9, model.encoding.length, seed=3), model.encoding.length)
    x = model.fast_input(codes)
    with torch.inference_mode():
        scripted = model.inference_forward(x)
        assert any(type(f).__name__ == "ScriptFunction" for f in fastpath._COMPILED.values())
        monkeypatch.setattr(fastpath, "_compiled", lambda fn: fn)
        plain_python = model.inference_forward(x)
    torch.testing.assert_close(plain_python, scripted, rtol=0, atol=1e-6)
