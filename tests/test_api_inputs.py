"""What ``model.predict`` and ``zoo.explain.attribute`` accept as in-memory input (hunt 19, findings 3, 4 and 8):
ASCII bytes are sequences, a dict maps ids to sequences, a pandas Series keeps its index as ids; ``None``, NaN,
sets, tables, tensors and bad batch sizes are one sentence (a UserError) naming the culprit, never a raw
TypeError from inside, and never a silently wrong result."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import zoo
from zoo.errors import UserError
from zoo.explain import attribute

L = 40


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return zoo.create_model("deepram_conv1d_onehot", num_classes=2, seq_len=L).eval()


def _seqs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), L)) for _ in range(n)]


def _predict(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.predict(*args, **kwargs)


# ------------------------------------------------------------------------------------------------ bytes
def test_ascii_bytes_are_sequences_in_predict_and_explain_alike(model):
    s = _seqs(3)
    ref = _predict(model, s).probabilities
    for given in ([x.encode() for x in s], [bytearray(x.encode()) for x in s], np.array([x.encode() for x in s])):
        np.testing.assert_array_equal(_predict(model, given).probabilities, ref)
    one = _predict(model, s[0].encode())
    assert one.ids == ["seq1"] and np.array_equal(one.probabilities, ref[:1])
    np.testing.assert_array_equal(_predict(model, np.array(s[0])).probabilities, ref[:1])  # a 0-d array
    a, b = attribute(model, s[0].encode(), "saliency"), attribute(model, s[0], "saliency")
    assert a.sequences == b.sequences and np.array_equal(a.scores[0], b.scores[0], equal_nan=True)
    with pytest.raises(UserError, match=r"^sequence 'seq1' is bytes that are not ASCII text \(byte 0xff at "
                                        r"position 3\)"):
        _predict(model, b"AC\xffGT")


# ----------------------------------------------------------------------------------- non-string entries
@pytest.mark.parametrize("bad, what", [(None, "None"), (np.nan, "NaN"), (pd.NA, "<NA>"), (5, r"a int \(5\)"),
                                       (("x", "ACGT"), "a pair")])
def test_an_entry_that_is_no_string_is_one_sentence_naming_it(model, bad, what):
    s = _seqs(5)
    batch = s[:4] + [bad]
    pattern = rf"^sequence 'seq5' is {what}"
    # batch_size 2 with threads: the bad entry sits in a later batch, in the pipelined path.
    for kwargs in ({}, {"batch_size": 2, "threads": 2}):
        with pytest.raises(UserError, match=pattern):
            _predict(model, batch, **kwargs)
    with pytest.raises(UserError, match=pattern):
        attribute(model, batch, "saliency")


def test_a_blank_cell_of_a_table_is_named_by_its_row(model):
    s = _seqs(2)
    for column in (pd.Series([s[0], np.nan, s[1]], index=[10, 11, 12]),
                   pd.Series([s[0], None, s[1]], index=[10, 11, 12], dtype="string")):
        with pytest.raises(UserError, match=r"^sequence '11' is (NaN|<NA>) \(a missing value.*dropna\(\)"):
            _predict(model, column)
        with pytest.raises(UserError, match=r"^sequence '11' is"):
            attribute(model, column, "ism")


# ----------------------------------------------------------------------------------------- containers
def test_a_dict_maps_ids_to_sequences(model):
    s = _seqs(2)
    ref = _predict(model, s).probabilities
    dna_key = "ACGT" * 10  # a key that is itself DNA must not be predicted in place of its value
    p = _predict(model, {"first": s[0], dna_key: s[1]})
    assert p.ids == ["first", dna_key] and np.array_equal(p.probabilities, ref)
    assert attribute(model, {"first": s[0]}, "ism").ids == ["first"]
    with pytest.raises(UserError, match="keys are their ids; do not pass ids as well"):
        _predict(model, {"first": s[0]}, ids=["other"])


def test_a_series_keeps_its_index_as_ids(model):
    s = _seqs(3)
    ref = _predict(model, s).probabilities
    p = _predict(model, pd.Series(s, index=["a", "b", "c"]))
    assert p.ids == ["a", "b", "c"] and np.array_equal(p.probabilities, ref)
    assert _predict(model, pd.DataFrame({"sequence": s}).iloc[1:]["sequence"]).ids == ["1", "2"]
    assert _predict(model, pd.Series(s), ids=["x", "y", "z"]).ids == ["x", "y", "z"]
    assert attribute(model, pd.Series(s[:1], index=["a"]), "ism").ids == ["a"]


def test_a_single_sequence_takes_a_single_id(model):
    assert _predict(model, _seqs(1)[0], ids="mine").ids == ["mine"]


@pytest.mark.parametrize("given, pattern", [
    (None, r"^no sequences to (predict|explain) \(None\)"),
    ({"ACGT" * 10, "TTGA" * 10}, r"^sequences is a set, which has no order"),
    (frozenset({"ACGT" * 10}), r"^sequences is a set"),
    (pd.DataFrame({"sequence": ["ACGT" * 10]}), r"^sequences is a pandas DataFrame; pass its sequence column"),
    (np.array([["ACGT" * 10]]), r"^sequences is a 2-dimensional array"),
    (torch.zeros(2, 4, L), r"^sequences is a torch Tensor, but (predict|explain) takes raw DNA strings"),
    (5, r"^sequences must be a DNA string, a list of them, or a dict \{id: sequence\}, not int"),
])
def test_what_is_no_collection_of_sequences_is_one_sentence(model, given, pattern):
    with pytest.raises(UserError, match=pattern):
        _predict(model, given)
    with pytest.raises(UserError, match=pattern):
        attribute(model, given, "ism")


# ------------------------------------------------------------------------------------------ batch size
@pytest.mark.parametrize("bad", [1.5, "8", True, 0, -1])
def test_batch_size_must_be_a_whole_number(model, bad):
    s = _seqs(3)
    with pytest.raises(UserError, match=r"^batch_size \(--batch-size\) must be at least 1 and a whole number"):
        _predict(model, s, batch_size=bad)
    with pytest.raises(UserError, match=r"^batch_size \(--batch-size\) must be at least 1 and a whole number"):
        attribute(model, s, "saliency", batch_size=bad)


def test_batch_size_none_is_the_default_and_numpy_integers_count(model):
    s = _seqs(3)
    ref = _predict(model, s).probabilities
    np.testing.assert_array_equal(_predict(model, s, batch_size=None).probabilities, ref)
    # Another batch shape may round the last float32 bit differently.
    np.testing.assert_allclose(_predict(model, s, batch_size=np.int64(2)).probabilities, ref, rtol=0, atol=1e-6)
    assert len(attribute(model, s, "saliency", batch_size=None)) == 3


@pytest.mark.parametrize("option, flag", [("max_length", "--max-length"), ("n_steps", "--steps")])
def test_other_counts_name_both_spellings(model, option, flag):
    with pytest.raises(UserError, match=rf"^{option} \({flag}\) must be at least 1"):
        attribute(model, _seqs(1), **{option: "8"})
    if option == "max_length":
        with pytest.raises(UserError, match=rf"^{option} \({flag}\) must be at least 1 bp"):
            _predict(model, _seqs(1), max_length=2.5)
