"""Every registered model obeys the contract of :mod:`zoo.models`, on the study's three input geometries.

The generic tests are parametrized over ``zoo.list_models()`` so a new architecture is tested without editing this
file; they only use what every :class:`~zoo.models.base.ZooModel` offers (``encoding``, ``num_outputs``, ``loss``,
``head``, the hub mixin). The rest pins down details of the paper ports that parameter counts cannot see.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.encoding import encode
from zoo.engine import _training_loss
from zoo.models.base import ZooModel
from zoo.models.paper_cnn import KERAS_BN_EPS, KERAS_BN_MOMENTUM
from zoo.registry import GEOMETRIES, UnknownModelError, register_model, study_kwargs

MODELS = zoo.list_models()
#: Batch size per geometry; histone (500 bp) is kept to two sequences so the suite stays cheap.
BATCH = {"splice": 4, "histone": 2, "motif": 4}


def random_sequences(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]
    seqs[0] = "N" + seqs[0][1:]  # one ambiguous base: encoders must cope, models must not fail on it
    return seqs


def build(name: str, geometry: str) -> ZooModel:
    torch.manual_seed(0)
    return zoo.create_model(name, **study_kwargs(name, geometry))


def batch_for(model: ZooModel, geometry: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    n = BATCH[geometry]
    x = encode(random_sequences(n, model.seq_len, seed), model.encoding)
    y = torch.arange(n) % model.num_classes
    return x, y


def test_registry_holds_the_papers_models():
    paper = {"cnn_nguyen_2_conv2d", "cnn_nguyen_conv1d_2_conv2d", "cnn_zeng_2_conv2d", "cnn_zeng_3_conv2d",
             "cnn_zeng_4_conv2d", "cnn_zeng_4_conv2d_l2", "cnn_deepdbp", "deepram_conv1d_onehot",
             "deepram_conv1d_embed", "deepram_conv1d_recurrent_onehot", "deepram_conv1d_recurrent_embed",
             "deepram_recurrent_onehot", "deepram_recurrent_embed"}
    assert paper <= set(MODELS)
    families = zoo.list_families()
    assert set(families["paper_cnn"]) == {n for n in paper if n.startswith("cnn_")}
    assert set(families["deepram"]) == {n for n in paper if n.startswith("deepram_")}


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("name", MODELS)
def test_forward_backward(name: str, geometry: str):
    model = build(name, geometry)
    assert isinstance(model, ZooModel) and model.arch == name
    assert model.num_classes == GEOMETRIES[geometry]["num_classes"]
    assert model.seq_len == GEOMETRIES[geometry]["seq_len"]
    assert model.encoding.length in (None, model.seq_len)
    x, y = batch_for(model, geometry)
    assert tuple(x.shape) == (len(y), *model.encoding.shape(model.seq_len))
    model.train()
    out = model(x)
    assert torch.isfinite(out).all()
    if model.is_classifier:
        heads = [model.get_submodule(prefix[:-1]) for prefix in model.classifier_prefixes()]
        assert heads == ([model.head] if hasattr(model, "head") else list(model.get_classifier()))
        assert all(isinstance(head, nn.Linear) and head.out_features == model.num_outputs for head in heads)
        members = (len(heads),) if len(heads) > 1 else ()  # an ensemble returns each member's logits in training
        assert out.shape == (len(y), *members, model.num_outputs)
        loss = _training_loss(model, out, y, None, 0.0)
    else:  # e.g. an autoencoder: any scalar that depends on every output checks the gradient flow
        assert out.shape[0] == len(y)
        loss = out.float().pow(2).mean()
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    no_grad = [n for n, p in trainable if p.grad is None]
    assert not no_grad, f"no gradient reaches {no_grad}"
    for n, p in trainable:
        assert torch.isfinite(p.grad).all(), n
        if name.startswith("genonet") and n.endswith("attention.bias"):
            continue  # GenoNet's attention is a softmax over time, which ignores a shared shift: 0 up to rounding
        assert p.grad.abs().sum() > 0, f"gradient of {n} is all zero"

    if not model.is_classifier:
        return
    probs = model.predict_encoded(x)
    assert probs.shape == (len(y), model.num_classes)
    torch.testing.assert_close(probs.sum(1), torch.ones(len(y)))


@pytest.mark.parametrize("name", MODELS)
def test_hub_round_trip(name: str, tmp_path):
    """save_pretrained / from_pretrained (the hub mixin) restore the config and identical outputs."""
    labels = ["bound", "unbound"]
    torch.manual_seed(0)
    model = zoo.create_model(name, **study_kwargs(name, "motif"), label_names=labels)
    x, _ = batch_for(model, "motif", seed=1)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["seq_len"] == 101 and config["label_names"] == labels
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt*"))  # no pickle

    loaded = type(model).from_pretrained(tmp_path)
    assert loaded.encoding == model.encoding
    assert loaded.label_names == labels and loaded.num_classes == model.num_classes
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)


def test_unknown_model_names_close_matches():
    with pytest.raises(UnknownModelError, match=r"did you mean 'cnn_zeng_3_conv2d'"):
        zoo.create_model("cnn_zeng_3_conv")
    with pytest.raises(zoo.UserError, match="unknown model 'no_such_thing'"):
        zoo.create_model("no_such_thing")


def test_an_architecture_without_weights_says_how_to_get_some(monkeypatch):
    from zoo.models.genonet import GenoNet, genonet_small

    def genonet_tiny_unpublished(**kwargs) -> GenoNet:  # every registered classifier is published: add one
        return genonet_small(**kwargs)

    monkeypatch.setattr(zoo.registry, "_entrypoints", dict(zoo.registry._entrypoints))
    monkeypatch.setattr(zoo.registry, "_families", dict(zoo.registry._families))
    monkeypatch.setattr(zoo.registry, "_geometry_args", dict(zoo.registry._geometry_args))
    register_model(family="genonet")(genonet_tiny_unpublished)
    with pytest.raises(UnknownModelError, match=r"no published weights for 'genonet_tiny_unpublished', an "
                                                r"architecture to train yourself \(genozoo train --arch "
                                                r"genonet_tiny_unpublished\); published weights of its family: "
                                                r"genonet_small.histone_h3_gue, "):
        zoo.create_model("genonet_tiny_unpublished", pretrained=True)
    # A part other models build on is not offered for training.
    with pytest.raises(UnknownModelError, match=r"no published weights for 'lstm_autoencoder', not a classifier but "
                                                r"a part other models build on, so nothing to train on labels"):
        zoo.create_model("lstm_autoencoder", pretrained=True)


def test_register_duplicate_raises():
    def cnn_zeng_3_conv2d(**kwargs):  # same name as a registered builder
        raise AssertionError("must never be called")

    before = zoo.registry.model_entrypoint("cnn_zeng_3_conv2d")
    with pytest.raises(ValueError, match="already registered"):
        register_model(family="paper_cnn")(cnn_zeng_3_conv2d)
    assert zoo.registry.model_entrypoint("cnn_zeng_3_conv2d") is before


@pytest.mark.parametrize("name, seq_len", [("cnn_zeng_4_conv2d", 39), ("cnn_nguyen_2_conv2d", 11),
                                           ("deepram_conv1d_recurrent_onehot", 11)])
def test_too_short_sequences_are_a_user_error(name: str, seq_len: int):
    with pytest.raises(zoo.UserError, match=rf"seq_len {seq_len} is too short .* use seq_len {seq_len + 1} or more"):
        zoo.create_model(name, seq_len=seq_len)
    model = zoo.create_model(name, seq_len=seq_len + 1)  # the length the message names works
    x = encode(random_sequences(2, seq_len + 1), model.encoding)
    assert model(x).shape == (2, 1)


# ------------------------------------------------------------------------------------- L2 regularization
def test_l2_param_group():
    model = zoo.create_model("cnn_zeng_4_conv2d_l2", num_classes=3, seq_len=60)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [m for m, _ in model.l2_layers()] == convs[1:]
    groups = model.param_groups(weight_decay=0.0)
    by_wd = {g["weight_decay"]: {id(p) for p in g["params"]} for g in groups}
    assert set(by_wd) == {0.0, 0.02}
    assert by_wd[0.02] == {id(c.weight) for c in convs[1:]}  # kernels only, not biases, not the first conv
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    plain = zoo.create_model("cnn_zeng_4_conv2d", num_classes=3, seq_len=60)
    assert [g["weight_decay"] for g in plain.param_groups()] == [0.0]


def test_l2_weight_decay_equals_keras_loss_term():
    """One Adam step with the weight-decay group equals one step on ``loss + 0.01 * sum(w**2)`` (Keras L2)."""
    torch.manual_seed(0)
    a, b, c = (zoo.create_model("cnn_zeng_4_conv2d_l2", num_classes=3, seq_len=60) for _ in range(3))
    b.load_state_dict(a.state_dict()), c.load_state_dict(a.state_dict())
    x, y = batch_for(a, "splice")
    steps = {a: torch.optim.Adam(a.param_groups(), lr=1e-2),  # weight decay 0.02 on the L2 kernels
             b: torch.optim.Adam(b.parameters(), lr=1e-2),  # Keras: L2 term in the loss
             c: torch.optim.Adam(c.parameters(), lr=1e-2)}  # no regularization at all
    for _ in range(3):
        for model, opt in steps.items():
            model.eval()  # no dropout, fixed BatchNorm statistics: all three see the same function
            opt.zero_grad()
            loss = model.loss(model(x), y)
            if model is b:
                loss = loss + sum(0.01 * (m.weight ** 2).sum() for m, _ in b.l2_layers())
            loss.backward()
            opt.step()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=n)
    regularized = a.l2_layers()[0][0].weight
    assert not torch.allclose(regularized, c.l2_layers()[0][0].weight, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ details of the ports (Keras originals)
def _input_shapes(model: nn.Module, module: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    seen = []
    handle = module.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    model.eval()
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen[0]


def test_deepram_conv1d_recurrent_steps_match_keras_summary():
    """Saved Keras summary (motif): Conv1D (97, 64), pool 48, Conv1D (46, 128), pool 23, LSTM (23, 64)."""
    model = zoo.create_model("deepram_conv1d_recurrent_onehot", seq_len=101)
    x = encode(random_sequences(2, 101), model.encoding)
    assert tuple(x.shape) == (2, 192, 99)
    assert _input_shapes(model, model.lstms[0], x) == (2, 23, 128)
    assert _input_shapes(model, model.lstms[1], x) == (2, 23, 64)
    assert _input_shapes(model, model.dense, x) == (2, 128)


def test_deepram_layer_details():
    conv = zoo.create_model("deepram_conv1d_embed", seq_len=60)
    assert conv.embedding.num_embeddings == len(zoo.encoding.TOKENS) and conv.embedding.embedding_dim == 256
    assert not conv.lstms and _input_shapes(conv, conv.dense, encode(["ACGT" * 15], conv.encoding)) == (1, 128)
    assert sum(isinstance(m, nn.ReLU) for m in conv.convs) == 2
    assert sum(isinstance(m, nn.MaxPool1d) for m in conv.convs) == 1  # then GlobalMaxPool
    assert not any(isinstance(m, nn.ReLU) for m in conv.dense)  # Dense 128 is linear
    rec = zoo.create_model("deepram_recurrent_onehot", seq_len=60)
    assert len(rec.convs) == 0 and [l.hidden_size for l in rec.lstms] == [64, 128]
    assert rec.encoding.kind == "kmer_seq" and rec.encoding.region == 2
    assert rec.lstms[0].input_size == 192 and all(l.batch_first for l in rec.lstms)


def test_nguyen_first_kernel_squares_the_image():
    splice = zoo.create_model("cnn_nguyen_conv1d_2_conv2d", num_classes=3, seq_len=60)  # image 58 x 64
    histone = zoo.create_model("cnn_nguyen_conv1d_2_conv2d", seq_len=500)  # 498 x 64
    motif = zoo.create_model("cnn_nguyen_conv1d_2_conv2d", **study_kwargs("cnn_nguyen_conv1d_2_conv2d", "motif"))
    assert splice.features[0].kernel_size == (1, 7)
    assert histone.features[0].kernel_size == (435, 1)
    assert motif.encoding.region == 2 and motif.features[0].kernel_size == (1, 94)  # 99 x 192
    assert sum(isinstance(m, nn.ReLU) for m in splice.features) == 3  # every conv has a ReLU


def test_study_geometry_regions():
    for name in ["cnn_nguyen_2_conv2d", "cnn_zeng_2_conv2d", "cnn_zeng_4_conv2d_l2"]:
        assert study_kwargs(name, "splice").get("region", 0) == 0
        assert study_kwargs(name, "motif")["region"] == 2
        assert zoo.create_model(name, **study_kwargs(name, "motif")).encoding.shape() == (1, 99, 192)
    assert zoo.create_model("cnn_zeng_2_conv2d", num_classes=3, seq_len=60).encoding.shape() == (1, 58, 64)


def test_zeng_block_order_and_keras_batchnorm():
    model = zoo.create_model("cnn_zeng_3_conv2d", seq_len=101)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d", "Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d",
                     "Conv2d", "ReLU", "BatchNorm2d"]
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    assert all(bn.eps == KERAS_BN_EPS and bn.momentum == KERAS_BN_MOMENTUM for bn in bns)


def test_deepdbp_shapes():
    model = zoo.create_model("cnn_deepdbp", num_classes=3, seq_len=60)
    x = encode(random_sequences(2, 60), model.encoding)
    assert x.dtype == torch.int64 and tuple(x.shape) == (2, 60)
    assert model.conv.kernel_size == (1, 31)
    assert _input_shapes(model, model.dense[1], x) == (2, 60 * 4 * 128)  # MaxPool (1, 31): width 128 -> 4


def test_deepdbp_token_table_is_the_image_convolution():
    """The per-token lookup equals Keras' graph: Embedding -> (L, E, 1) image -> Conv2D (1, 31) 'same' -> ReLU ->
    MaxPool (1, 31) -> Flatten in (H, W, C) order -> Dense; outputs and gradients alike."""
    torch.manual_seed(0)
    model = zoo.create_model("cnn_deepdbp", num_classes=3, seq_len=60).eval()
    with torch.no_grad():
        model.conv.bias.normal_()  # a nonzero bias exercises the PAD row and the ReLU
    x = encode(random_sequences(4, 60) + ["ACGTN" * 10], model.encoding)
    x[0, -7:] = 0  # padding

    def image_path(m):
        img = m.embedding(x).unsqueeze(1)  # (N, 1, L, E)
        feats = m.pool(torch.relu(m.conv(img)))  # (N, F, L, E // pool)
        return m.head(m.dense(feats.permute(0, 2, 3, 1).flatten(1)))

    fast, slow = model(x), image_path(model)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    model.token_lookup = False  # the per-position path zoo.explain uses
    torch.testing.assert_close(model(x), slow, rtol=1e-5, atol=1e-6)
    model.token_lookup = True
    g_fast = torch.autograd.grad(fast.square().sum(), [model.conv.weight, model.embedding.weight])
    g_slow = torch.autograd.grad(slow.square().sum(), [model.conv.weight, model.embedding.weight])
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_keras_initialization():
    model = zoo.create_model("deepram_conv1d_recurrent_embed", seq_len=60)
    emb = model.embedding.weight
    assert torch.all(emb[0] == 0) and emb.abs().max() <= 0.05  # PAD row zero, uniform(-0.05, 0.05)
    for lstm in model.lstms:
        h = lstm.hidden_size
        assert torch.all(lstm.bias_ih_l0[h:2 * h] == 1) and torch.all(lstm.bias_ih_l0[:h] == 0)
        assert torch.all(lstm.bias_hh_l0 == 0)
        w = lstm.weight_hh_l0  # orthogonal: columns orthonormal
        torch.testing.assert_close(w.T @ w, torch.eye(h), atol=1e-4, rtol=0)
    assert torch.all(model.head.bias == 0)
    limit = (6 / (model.head.in_features + model.head.out_features)) ** 0.5  # Glorot uniform bound
    assert model.head.weight.abs().max() <= limit
