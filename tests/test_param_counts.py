"""Trainable parameter counts of the ports equal the Keras originals' (PAPER.md), up to two documented deltas.

The rule, for every architecture ``a`` and geometry ``g`` (splice 60 bp / 3 classes, histone 500 bp / binary,
motif 101 bp / binary, built with ``zoo.registry.study_kwargs``)::

    torch_trainable(a, g) == keras_trainable(a, g)
                             + 4 * sum(LSTM units of a)             # torch LSTMs carry bias_ih and bias_hh
                             + (6 - L_g) * embedding_dim(a)         # vocabulary table (6 tokens), not L_g rows

Everything else (convolutions, BatchNorm gamma/beta, Dense layers, heads) must match exactly; BatchNorm running
statistics are buffers in torch and non-trainable in Keras, so neither side counts them. The deltas come from
the architecture table, not from the model objects, so a wrong layer size cannot hide behind them.
"""
from __future__ import annotations

import pytest

import zoo
from zoo.encoding import TOKENS
from zoo.registry import GEOMETRIES, study_kwargs

#: ``model.summary()`` trainable counts of the Keras originals (PAPER.md; embeddings there have L rows).
KERAS = {
    "cnn_nguyen_2_conv2d": {"splice": 191299, "histone": 1768193, "motif": 1088257},
    "cnn_nguyen_conv1d_2_conv2d": {"splice": 32819, "histone": 50865, "motif": 110945},
    "cnn_zeng_2_conv2d": {"splice": 6051, "histone": 5985, "motif": 5985},
    "cnn_zeng_3_conv2d": {"splice": 25699, "histone": 25633, "motif": 25633},
    "cnn_zeng_4_conv2d": {"splice": 101859, "histone": 101793, "motif": 101793},
    "cnn_zeng_4_conv2d_l2": {"splice": 101859, "histone": 101793, "motif": 101793},
    "cnn_deepdbp": {"splice": 995427, "histone": 8260673, "motif": 1672385},
    "deepram_conv1d_onehot": {"splice": 78531, "histone": 78273, "motif": 78273},
    "deepram_conv1d_embed": {"splice": 106179, "histone": 218561, "motif": 116417},
    "deepram_conv1d_recurrent_onehot": {"splice": 226755, "histone": 226497, "motif": 226497},
    "deepram_conv1d_recurrent_embed": {"splice": 254403, "histone": 366785, "motif": 264641},
    "deepram_recurrent_onehot": {"splice": 181507, "histone": 181249, "motif": 181249},
    "deepram_recurrent_embed": {"splice": 213251, "histone": 325633, "motif": 223489},
}

#: Per architecture: LSTM units and embedding width, read off the architecture table of PAPER.md.
LSTM_UNITS = {name: [64, 128] for name in KERAS if "recurrent" in name}
EMBEDDING_DIM = {"cnn_deepdbp": 128, **{name: 256 for name in KERAS if name.endswith("_embed")}}


def expected_torch_count(name: str, geometry: str) -> int:
    seq_len = GEOMETRIES[geometry]["seq_len"]
    lstm_delta = 4 * sum(LSTM_UNITS.get(name, []))
    embedding_delta = (len(TOKENS) - seq_len) * EMBEDDING_DIM.get(name, 0)
    return KERAS[name][geometry] + lstm_delta + embedding_delta


def test_vocabulary_size():
    assert len(TOKENS) == 6


def test_every_paper_model_has_a_row():
    assert set(KERAS) == set(zoo.list_models(["cnn_*", "deepram_*"]))


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("name", sorted(KERAS))
def test_trainable_count_matches_keras(name: str, geometry: str):
    model = zoo.create_model(name, **study_kwargs(name, geometry))
    real = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert real == model.num_parameters()
    assert real == expected_torch_count(name, geometry), (
        f"{name} on {geometry}: {real} trainable parameters, expected Keras "
        f"{KERAS[name][geometry]} + documented deltas = {expected_torch_count(name, geometry)}")


def test_documented_deltas_by_hand():
    """Spot checks of the rule with the arithmetic written out."""
    assert expected_torch_count("cnn_nguyen_2_conv2d", "splice") == 191299  # no LSTM, no embedding
    assert expected_torch_count("deepram_recurrent_embed", "motif") == 223489 + 4 * (64 + 128) + (6 - 101) * 256
    assert expected_torch_count("cnn_deepdbp", "splice") == 995427 - 54 * 128
