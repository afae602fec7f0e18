"""zoo.encoding: cleaning, every representation's shape, round trips, reverse-complement identities, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import encoding as E
from zoo.summary import random_sequences

GEOMETRIES = {"splice": (60, 0), "histone": (500, 0), "motif": (101, 2)}
VALID = "ACGTUacgtuNRYSWKMBDHVnrryswkmbdhv"


def test_clean_maps_case_u_and_ambiguity_codes():
    assert E.clean(["acgu", "RYSWKMBDHVN"]) == ["ACGT", "N" * 11]
    assert E.clean("NDSRA", ambiguity="splice") == ["ATCGA"]


def test_invalid_character_names_sequence_and_position():
    with pytest.raises(E.EncodingError, match=r"sequence 1 \('b'\) has invalid character 'X' at position 3"):
        E.clean(["ACGT", "ACXT"], ids=["a", "b"])
    with pytest.raises(E.EncodingError, match="invalid character 'é' at position 2"):
        E.to_codes(["Aé"])
    with pytest.raises(E.EncodingError, match="no sequences"):
        E.encode([])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=5))
def test_property_random_strings_either_clean_or_report_first_invalid(seqs):
    bad = [(i, j) for i, s in enumerate(seqs) for j, ch in enumerate(s) if ch not in VALID]
    if not bad:
        cleaned = E.clean(seqs)
        assert [len(s) for s in cleaned] == [len(s) for s in seqs]
        assert all(set(s) <= set("ACGTN") for s in cleaned)
        return
    i, j = bad[0]
    with pytest.raises(E.EncodingError) as err:
        E.clean(seqs)
    assert f"sequence {i} has invalid character {seqs[i][j]!r} at position {j + 1}" in str(err.value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="ACGTN", min_size=3, max_size=50), min_size=1, max_size=6))
def test_property_one_hot_and_tokens_round_trip(seqs):
    codes = E.to_codes(seqs)
    assert E.codes_to_strings(codes) == seqs
    assert E.one_hot_to_strings(E.one_hot(codes), [len(s) for s in seqs]) == seqs
    assert E.one_hot_to_strings(E.one_hot(codes, 0.25), [len(s) for s in seqs]) == seqs
    assert E.tokens_to_strings(E.tokens(codes)) == seqs


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=3, max_size=80), st.integers(0, 3))
def test_property_reverse_complement_every_representation(seq, region):
    rc = E.reverse_complement(seq)[0]
    assert E.reverse_complement(rc)[0] == seq
    for kind in E.KINDS:
        enc = E.Encoding(kind, len(seq), region=region)
        x = E.encode(seq, enc, return_tensor=False)
        assert np.array_equal(E.reverse_complement_encoded(x, enc), E.encode(rc, enc, return_tensor=False)), kind
        assert np.array_equal(E.reverse_complement_encoded(E.reverse_complement_encoded(x, enc), enc), x)


def test_reverse_complement_torch_and_variable_lengths():
    assert E.reverse_complement(["AACG", "GGT", "N"]) == ["CGTT", "ACC", "N"]
    enc = E.Encoding("onehot", 10)
    x = E.encode(["ACGTACGTAA"], enc)
    assert torch.equal(E.reverse_complement_encoded(x, enc), E.encode(["TTACGTACGT"], enc))


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_shapes_for_the_study_geometries(geometry):
    L, r = GEOMETRIES[geometry]
    seqs = random_sequences(3, L)
    expect = {
        "onehot": (3, 4, L),
        "kmer_image": (3, 1, L - 2, 64 * (r + 1)),
        "kmer_seq": (3, 64 * (r + 1), L - 2),
        "tokens": (3, L),
    }
    for kind, shape in expect.items():
        enc = E.Encoding(kind, L, region=r)
        x = E.encode(seqs, enc)
        assert tuple(x.shape) == shape == (3, *enc.shape())
        assert x.dtype == {"tokens": torch.int64, "onehot": torch.float32}.get(kind, torch.uint8)


def test_kmer_onehot_marks_the_right_words():
    x = E.encode("AACGT", E.Encoding("kmer_image", 5, region=1), return_tensor=False)[0, 0]
    # words AAC=0*16+0*4+1=1, ACG=0+4+2=6, CGT=16+8+3=27; block 1 holds the next position's word
    assert x.shape == (3, 128)
    assert [list(np.flatnonzero(row)) for row in x] == [[1, 64 + 6], [6, 64 + 27], [27]]
    assert E.kmer_onehot(E.to_codes("ANGTT"), 3, 0)[0, 0].sum(axis=1).tolist() == [0, 0, 1]


def test_one_hot_n_value_and_padding():
    x = E.encode("AN", E.Encoding("onehot", 4, n_value=0.25), return_tensor=False)[0]
    assert x[:, 0].tolist() == [1, 0, 0, 0]
    assert x[:, 1].tolist() == [0.25] * 4
    assert x[:, 2:].sum() == 0  # PAD is all-zero


def test_pad_and_crop_right_and_center():
    assert E.codes_to_strings(E.to_codes(["ACGTAC", "AC"], 4)) == ["ACGT", "AC"]
    assert E.codes_to_strings(E.to_codes(["ACGTAC", "AC"], 4, pad_mode="center"), strip_pad=False) == \
        ["CGTA", "-AC-"]
    codes = E.to_codes(["ACGTAC"])
    assert E.codes_to_strings(E.fit_length(codes, 8, "center"), strip_pad=False) == ["-ACGTAC-"]
    assert E.codes_to_strings(E.fit_length(codes, 2, "center")) == ["GT"]
    assert E.codes_to_strings(E.fit_length(codes, 3, "right")) == ["ACG"]
    toks = E.encode(["AC"], E.Encoding("tokens", 4), return_tensor=False)
    assert toks.tolist() == [[2, 3, E.PAD_TOKEN, E.PAD_TOKEN]]


def test_encoding_record_round_trips_and_rejects_unknown_fields():
    enc = E.Encoding("kmer_seq", 101, region=2, pad_mode="center")
    assert E.Encoding.from_dict(enc.to_dict()) == enc
    with pytest.raises(ValueError, match="unknown encoding field"):
        E.Encoding.from_dict({"kind": "onehot", "lenght": 3})
    with pytest.raises(ValueError, match="unknown encoding kind"):
        E.Encoding("bogus")


def test_kmer_shorter_than_k_is_a_clear_error():
    with pytest.raises(E.EncodingError, match="shorter than k=3"):
        E.encode("AC", E.Encoding("kmer_seq"))
