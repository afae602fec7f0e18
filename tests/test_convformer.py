"""The convolutional-stem transformer (zoo.models.convformer): its layer sizes, strand symmetry, learning a planted
motif, and a saved folder that the registry loads back. The contract tests over every registered model
(tests/test_models.py, tests/test_inference.py) cover it too."""
import numpy as np
import pytest
import torch

import zoo
from zoo.encoding import encode, reverse_complement
from zoo.models.convformer import ConvFormer, reverse_complement_onehot
from zoo.registry import list_families, study_kwargs

from toy_data import planted, train_steps  # noqa: E402


def random_sequences(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def expected_parameters(seq_len: int, outputs: int, dim: int = 64, stem: int = 15, conv: int = 5, pool: int = 2,
                        layers: int = 2, ratio: int = 2) -> int:
    """The count read off the architecture in the module docstring, layer by layer."""
    tokens = -(-seq_len // pool)
    encoder_layer = (3 * dim * dim + 3 * dim) + (dim * dim + dim) + 2 * (2 * dim) \
        + (dim * ratio * dim + ratio * dim) + (ratio * dim * dim + dim)  # attention, 2 LayerNorms, feed-forward
    return (4 * dim * stem + dim) + (dim * dim * conv + dim) + tokens * dim + layers * encoder_layer \
        + 2 * dim + (dim + 1) + (2 * dim * outputs + outputs)  # final LayerNorm, pooling score, head


def test_registered_in_its_family():
    assert "convformer_small" in list_families()["convformer"]


@pytest.mark.parametrize("task, outputs", [("splice", 3), ("motif", 1), ("histone", 1)])
def test_parameter_count_follows_the_architecture(task, outputs):
    kw = study_kwargs("convformer_small", task)
    model = zoo.create_model("convformer_small", **kw)
    assert model.num_parameters() == expected_parameters(kw["seq_len"], outputs, pool=kw.get("pool", 2))
    assert model.num_parameters() == (93892, 94978, 99714)[["splice", "motif", "histone"].index(task)]


def test_study_geometries_turn_strand_symmetry_on_where_the_strand_does_not_matter():
    assert [study_kwargs("convformer_small", t).get("strand_symmetric", False)
            for t in ("splice", "motif", "histone")] == [False, True, True]


def test_reverse_complement_of_the_one_hot_is_the_encoded_reverse_complement():
    seqs = random_sequences(5, 31)
    enc = zoo.create_model("convformer_small", seq_len=31).encoding
    assert torch.equal(reverse_complement_onehot(encode(seqs, enc)), encode(reverse_complement(seqs), enc))


def test_strand_symmetric_model_gives_both_strands_the_same_probabilities():
    seqs = random_sequences(8, 101, seed=3)
    torch.manual_seed(0)
    symmetric = zoo.create_model("convformer_small", **study_kwargs("convformer_small", "motif"))
    x, rc = (encode(s, symmetric.encoding) for s in (seqs, reverse_complement(seqs)))
    symmetric.eval()
    torch.testing.assert_close(symmetric(x), symmetric(rc), atol=1e-6, rtol=1e-5)
    # The same weights without the symmetry read the strands differently: the check above is not vacuous.
    plain = ConvFormer(seq_len=101)
    plain.load_state_dict(symmetric.state_dict())
    plain.eval()
    assert not torch.allclose(plain(x), plain(rc), atol=1e-4)


def test_training_mode_reads_a_random_strand_of_each_sequence():
    torch.manual_seed(0)
    model = ConvFormer(seq_len=40, strand_symmetric=True, dropout=0.0)
    x = encode(random_sequences(64, 40), model.encoding)
    model.eval()
    with torch.no_grad():
        fwd, rev = model._logits(x), model._logits(reverse_complement_onehot(x))
        model.train()
        torch.manual_seed(1)
        out = model(x)
    on_fwd = torch.isclose(out, fwd, atol=1e-6).view(-1)
    on_rev = torch.isclose(out, rev, atol=1e-6).view(-1)
    assert (on_fwd | on_rev).all() and 10 < int(on_rev.sum()) < 54


@pytest.mark.parametrize("symmetric", [False, True])
def test_learns_planted_motif(symmetric):
    seqs, y = planted()
    torch.manual_seed(0)
    model = ConvFormer(seq_len=40, dim=32, num_layers=1, strand_symmetric=symmetric)
    before, after = train_steps(model, encode(seqs, model.encoding), y, lr=3e-3)
    assert after < 0.5 * before, (before, after)


def test_saved_folder_loads_back_through_the_registry(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("convformer_small", **study_kwargs("convformer_small", "motif"),
                             label_names=["unbound", "bound"])
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"model.safetensors", "config.json"}
    loaded = zoo.create_model("convformer_small", checkpoint_path=tmp_path,
                              **study_kwargs("convformer_small", "motif"), label_names=["unbound", "bound"])
    x = encode(random_sequences(6, 101), model.encoding)
    model.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.strand_symmetric and loaded.label_names == ["unbound", "bound"]
