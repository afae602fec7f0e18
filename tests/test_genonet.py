"""GenoNet (zoo.models.genonet) and the training ingredients its recipe added to the engine: label smoothing,
weight EMA, shift and reverse-complement augmentation. Each ingredient is a recipe key that is validated and that
changes what training does; turned off, training is what it was before (the ablation relies on both).

The registry-wide contract (forward/backward on the three geometries, hub round trip) is covered by
tests/test_models.py, which picks GenoNet up from the registry; resuming a run with every ingredient on is
tests/test_engine.py's crash-and-resume test (config ``adamw_cosine_ema_smoothing_augment``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo.encoding import encode, reverse_complement, to_codes
from zoo.engine import TrainConfig, WeightEMA, _training_loss, augment_codes, fit, seed_everything
from zoo.errors import UserError
from zoo.recipes import load_recipe
from zoo.registry import study_kwargs

from engine_tiny import TinyCNN, tiny_benchmark


def _genonet(geometry: str = "motif", **kwargs):
    torch.manual_seed(0)
    return zoo.create_model("genonet_small", **{**study_kwargs("genonet_small", geometry), **kwargs})


def expected_parameters(length: int, outputs: int, bins: int = 0) -> int:
    """GenoNet's trainable parameters, layer by layer from its defaults (channels 64, stem k=9, 4 blocks k=5, pool 2,
    BiGRU 64, flatten 8, 4-mer branch 64, MLP 128): only the flattened branch grows with the length, up to
    ``bins`` stretches where they are set."""
    c, h, steps = 64, 64, length // 2
    steps = min(steps, bins) if bins else steps
    stem = 4 * c * 9 + 2 * c                       # convolution without bias, BatchNorm
    blocks = 4 * (c * c * 5 + 2 * c)
    gru = 2 * (3 * (c * h + h * h) + 2 * 3 * h)    # two directions, bias_ih and bias_hh
    attention = 2 * h + 1
    project = 2 * h * 8 + 8
    composition = 2 * 256 + 256 * 64 + 64
    features = 2 * (2 * h) + 8 * steps + 64
    mlp = features * 128 + 128
    return stem + blocks + gru + attention + project + composition + mlp + 128 * outputs + outputs


@pytest.mark.parametrize("geometry,length,outputs", [("splice", 60, 3), ("motif", 101, 1), ("histone", 500, 1)])
def test_parameter_counts_per_geometry(geometry, length, outputs):
    assert _genonet(geometry).num_parameters() == expected_parameters(length, outputs)


@pytest.mark.parametrize("geometry,length,outputs", [("splice", 60, 3), ("motif", 101, 1), ("histone", 500, 1)])
def test_pos32_bins_the_position_branch_and_is_genonet_small_up_to_64_bp(geometry, length, outputs):
    torch.manual_seed(0)
    binned = zoo.create_model("genonet_small_pos32", **study_kwargs("genonet_small_pos32", geometry)).eval()
    assert binned.num_parameters() == expected_parameters(length, outputs, bins=32)
    plain = _genonet(geometry).eval()
    x = encode(["".join(np.random.default_rng(2).choice(list("ACGT"), length))], plain.encoding)
    if length // 2 <= 32:  # no stretch to average: the same parameters from the same seed, the same logits
        assert binned.bins == 0 and torch.equal(binned(x), plain(x))
    else:
        assert binned.bins == 32 and binned(x).shape == plain(x).shape


def test_position_bins_feed_the_mean_of_each_stretch():
    """At 128 bp (64 steps after the pooling) each of the 32 stretches is two steps: the MLP reads, between the
    attention and max pooling (4 x 64 features) and the composition branch, the projection's mean over each pair."""
    torch.manual_seed(0)
    model = zoo.create_model("genonet_small_pos32", num_classes=2, seq_len=128).eval()
    seen = {}
    model.project.register_forward_hook(lambda m, i, out: seen.__setitem__("steps", out))
    model.mlp.register_forward_hook(lambda m, i, out: seen.__setitem__("features", i[0]))
    x = encode(["".join(np.random.default_rng(3).choice(list("ACGT"), 128)) for _ in range(3)], model.encoding)
    with torch.no_grad():
        model(x)
    steps = seen["steps"]                                         # (N, 8, 64)
    assert steps.shape == (3, 8, 64)
    expected = steps.view(3, 8, 32, 2).mean(-1).flatten(1)
    torch.testing.assert_close(seen["features"][:, 4 * 64:4 * 64 + 8 * 32], expected)


def test_forward_shapes_and_composition_branch():
    model = _genonet("splice").eval()
    x = encode(["ACGT" * 15, "N" * 60], model.encoding)
    assert model(x).shape == (2, 3)
    freqs = model.kmer_frequencies(x.float())
    assert freqs.shape == (2, 256)
    assert torch.allclose(freqs[0].sum(), torch.tensor(1.0)) and freqs[1].sum() == 0  # all-N: no valid window
    # ACGT repeated: only the 4 rotations ACGT, CGTA, GTAC, TACG occur, in (nearly) equal shares.
    assert (freqs[0] > 0).sum() == 4


def test_rc_average_makes_the_prediction_strand_symmetric():
    seqs = ["".join(np.random.default_rng(1).choice(list("ACGT"), 101))]
    model = _genonet("motif", rc_average=True).eval()
    fwd, rev = (model(encode(s, model.encoding)) for s in (seqs, reverse_complement(seqs)))
    assert torch.allclose(fwd, rev, atol=1e-5)
    plain = _genonet("motif").eval()
    assert not torch.allclose(plain(encode(seqs, plain.encoding)),
                              plain(encode(reverse_complement(seqs), plain.encoding)), atol=1e-5)


def test_ablation_switches_change_the_architecture():
    full = _genonet("motif").num_parameters()
    for change in ({"gru_units": 0}, {"kmer": 0}, {"flatten_channels": 0}, {"dilations": [1, 2]}):
        model = _genonet("motif", **change)
        assert model.num_parameters() < full, change
        assert model(torch.zeros(2, 4, 101)).shape == (2, 1)


@pytest.mark.parametrize("bad", [{"kernel_size": 4}, {"pool": 200}, {"position_bins": -1}])
def test_bad_arguments_fail_with_a_sentence(bad):
    with pytest.raises(UserError):
        _genonet("motif", **bad)


# ------------------------------------------------------------------------------------------ ingredients
@pytest.mark.parametrize("key,value", [("label_smoothing", 1.0), ("label_smoothing", -0.1), ("ema_decay", 1.0),
                                       ("ema_decay", 0.0), ("shift_augment", -1), ("rc_augment", 1.5)])
def test_ingredient_keys_are_validated(key, value):
    with pytest.raises(UserError):
        TrainConfig(**{key: value})
    with pytest.raises(UserError):
        load_recipe(None, [f"--{key}={value}"], arch="genonet_small", dataset="splice")


def test_ingredient_keys_parse_from_the_command_line():
    r = load_recipe(None, ["--label_smoothing=0.1", "--ema_decay=null", "--shift_augment=2", "--rc_augment=0.5"],
                    arch="genonet_small", dataset="splice")
    assert (r.label_smoothing, r.ema_decay, r.shift_augment, r.rc_augment) == (0.1, None, 2, 0.5)
    with pytest.raises(UserError, match="shift_augment"):
        load_recipe(None, ["--shift_augment=1.5"], arch="genonet_small", dataset="splice")


def test_augment_codes_shift_and_reverse_complement():
    codes = torch.from_numpy(to_codes(["ACGTTG", "AACCGG"]))
    assert torch.equal(augment_codes(codes), codes)  # off: unchanged
    g = torch.Generator().manual_seed(0)
    rc = augment_codes(codes, rc=1.0, generator=g)
    assert torch.equal(rc, torch.from_numpy(to_codes(reverse_complement(["ACGTTG", "AACCGG"]))))
    shifted = augment_codes(codes, shift=2, generator=torch.Generator().manual_seed(3))
    for row, out in zip(codes, shifted):  # every row is the input moved by one offset in -2..2, N filled in
        matches = [s for s in range(-2, 3)
                   if all((out[j] == (row[j - s] if 0 <= j - s < 6 else 4)) for j in range(6))]
        assert matches
    assert not torch.equal(shifted, codes)  # with this seed at least one row moved


def test_label_smoothing_changes_the_loss_binary_and_multiclass():
    for classes in (2, 3):
        model = TinyCNN(num_classes=classes)
        logits = torch.randn(8, model.num_outputs) * 3
        y = torch.arange(8) % classes
        plain = _training_loss(model, logits, y, None, 0.0)
        assert torch.allclose(plain, model.loss(logits, y))
        smooth = _training_loss(model, logits, y, None, 0.1)
        assert not torch.allclose(plain, smooth)
    # binary smoothing equals two-class softmax smoothing on the logit difference
    z = torch.randn(6, 1)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    binary = _training_loss(TinyCNN(num_classes=2), z, y, None, 0.2)
    soft = torch.nn.functional.cross_entropy(torch.cat([torch.zeros_like(z), z], 1), y, label_smoothing=0.2)
    assert torch.allclose(binary, soft, atol=1e-6)


def test_weight_ema_averages_and_restores():
    model = torch.nn.Linear(2, 1)
    ema = WeightEMA(model, 0.5)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # warm-up: d = min(0.5, 2/11)
    d = 2 / 11
    assert torch.allclose(ema.shadow["weight"], d * start + (1 - d) * (start + 1))
    with ema.applied(model):
        assert torch.allclose(model.weight, ema.shadow["weight"])
    assert torch.allclose(model.weight, start + 1)  # training weights back


def _fit(tmp_path, name, **cfg):
    ds = tiny_benchmark(n=160, length=40)
    seed_everything(0)
    model = TinyCNN(seq_len=40)
    config = TrainConfig(epochs=2, batch_size=32, quiet=True, **cfg)
    result = fit(model, ds["train"], ds["validation"], config, run_dir=tmp_path / name)
    return model, result


@pytest.mark.parametrize("ingredient", [{"label_smoothing": 0.1}, {"ema_decay": 0.9}, {"shift_augment": 3},
                                        {"rc_augment": 0.5}])
def test_each_ingredient_changes_training(tmp_path, ingredient):
    base, base_result = _fit(tmp_path, "base")
    again, _ = _fit(tmp_path, "again")
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), again.state_dict().values()))
    changed, result = _fit(tmp_path, "changed", **ingredient)
    assert any(not torch.equal(a, b) for a, b in zip(base.state_dict().values(), changed.state_dict().values()))
    assert result.history[-1]["val_loss"] != base_result.history[-1]["val_loss"]


# ------------------------------------------------------------------------------------------ the ensemble member
def _ensemble(length: int = 40, **kwargs):
    torch.manual_seed(0)
    return zoo.create_model("genonet_small_pos32_x3", seq_len=length, **kwargs)


def test_ensemble_trains_each_member_on_its_own_loss_and_predicts_their_mean():
    model = _ensemble()
    x, y = torch.randint(-1, 4, (6, 40)), torch.tensor([0, 1, 1, 0, 1, 0])
    members = list(model.members)
    assert all(not torch.equal(members[0].stem[0].weight, m.stem[0].weight) for m in members[1:])  # own inits
    model.train()
    torch.manual_seed(1)
    out = model(x)
    assert out.shape == (6, 3, 1)
    for smoothing in (0.0, 0.05):
        each = [_training_loss(model, out[:, k], y, None, smoothing) for k in range(3)]
        assert torch.allclose(_training_loss(model, out, y, None, smoothing), torch.stack(each).mean())
    model.eval()
    with torch.no_grad():
        mean = torch.stack([m(x) for m in members]).mean(0)
        assert torch.allclose(model(x), mean)
        assert torch.allclose(model.inference_forward(x), mean, atol=1e-5)  # the members' exact rewrites


def test_ensemble_fits_saves_and_loads(tmp_path):
    ds = tiny_benchmark(n=160, length=40)
    model = _ensemble()
    fit(model, ds["train"], ds["validation"], TrainConfig(epochs=1, batch_size=32, quiet=True, label_smoothing=0.05),
        run_dir=tmp_path / "run")
    model.save_pretrained(tmp_path / "saved")
    loaded = zoo.hub.load_model(tmp_path / "saved")
    assert type(loaded).__name__ == "GenoNetEnsemble" and len(loaded.members) == 3
    assert loaded.members[0].bins == 0 and loaded._hub_mixin_config["position_bins"] == 32
    seqs = ["ACGT" * 10, "GGCA" * 10]
    assert np.allclose(model.predict(seqs).probabilities, loaded.predict(seqs).probabilities, atol=1e-6)


def test_ensemble_fine_tuning_replaces_every_member_head():
    from zoo.finetune import adapt_model

    base = _ensemble(label_names=["neg", "pos"])
    for labels in (["a", "b", "c"], ["x", "y"]):  # a new width, and the same width with other labels
        model, transferred, fresh = adapt_model(base, label_names=labels)
        assert sorted(fresh) == sorted(f"members.{k}.head.{p}" for k in range(3) for p in ("weight", "bias"))
        assert not any(".head." in key for key in transferred)
    model, _, fresh = adapt_model(base, label_names=["neg", "pos"])
    assert fresh == []  # the same labels keep every weight
    with pytest.raises(UserError):
        _ensemble(members=0)
