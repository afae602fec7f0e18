"""Encoding on the fly: collate, column-slice batches and streaming from files with bounded memory."""
import gzip

import numpy as np
import pytest
import torch

from zoo.data import planted_motif_benchmark
from zoo.data.transforms import StreamingEncodedDataset, encode_collate, iter_encoded_batches, label_mapper
from zoo.encoding import Encoding, encode
from zoo.errors import UserError


@pytest.fixture(scope="module")
def synth():
    return planted_motif_benchmark(n=300, length=50, motifs=("GATA1",), seed=0)


@pytest.mark.parametrize("kind", ["onehot", "kmer_image", "kmer_seq", "tokens"])
def test_collate_matches_encode(synth, kind):
    enc = Encoding(kind, length=50, region=2 if kind == "kmer_seq" else 0)
    loader = torch.utils.data.DataLoader(synth["train"], batch_size=17, collate_fn=encode_collate(enc))
    x, y = next(iter(loader))
    rows = synth["train"][:17]
    assert torch.equal(x, encode(list(rows["sequence"]), enc))
    assert y.dtype == torch.int64 and y.tolist() == list(rows["label"])
    assert tuple(x.shape[1:]) == enc.shape()
    # a dict of columns (batch sampler) gives the same
    x2, y2 = encode_collate(enc)(synth["train"][list(range(17))])
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_column_batches_cover_the_split_once(synth):
    enc = Encoding("onehot", length=50)
    seen = []
    for x, y in iter_encoded_batches(synth["train"], enc, batch_size=64, shuffle=True, seed=1):
        assert x.shape[1:] == (4, 50)
        seen.append(y)
    y = torch.cat(seen)
    assert len(y) == synth["train"].num_rows
    assert sorted(y.tolist()) == sorted(synth["train"]["label"])
    first = next(iter_encoded_batches(synth["train"], enc, batch_size=64, shuffle=True, seed=1))[1]
    other = next(iter_encoded_batches(synth["train"], enc, batch_size=64, shuffle=True, seed=2))[1]
    assert torch.equal(first, seen[0]) and not torch.equal(first, other)


def test_streaming_from_gzipped_zeng_file(tmp_path):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(103)]
    path = tmp_path / "train.data.gz"
    with gzip.open(path, "wt") as fh:
        for i, s in enumerate(seqs):
            fh.write(f">r{i}{'_shuf' if i % 2 else ''} {s} {1 - i % 2}\n")
    enc = Encoding("tokens", length=30)
    ds = StreamingEncodedDataset(path, enc, batch_size=10)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=None))
    assert [len(y) for _, y in batches] == [10] * 10 + [3]
    x = torch.cat([b[0] for b in batches])
    assert torch.equal(x, encode(seqs, enc))
    assert torch.cat([b[1] for b in batches]).tolist() == [1 - i % 2 for i in range(103)]
    # shuffle buffer: same multiset, different order, deterministic per seed
    shuf = StreamingEncodedDataset(path, enc, batch_size=10, shuffle_buffer=20, seed=3)
    xs = torch.cat([b[0] for b in shuf])
    assert not torch.equal(xs, x)
    assert sorted(map(tuple, xs.tolist())) == sorted(map(tuple, x.tolist()))
    assert torch.equal(xs, torch.cat([b[0] for b in StreamingEncodedDataset(path, enc, batch_size=10,
                                                                           shuffle_buffer=20, seed=3)]))
    # two workers see disjoint batches that together cover the file
    two = torch.utils.data.DataLoader(StreamingEncodedDataset(path, enc, batch_size=10), batch_size=None,
                                      num_workers=2)
    assert sum(len(y) for _, y in two) == 103


def test_label_mapper():
    m = label_mapper(["EI", "IE", "N"])
    assert [m("EI"), m("N"), m("1"), m(None)] == [0, 2, 1, -1]
    with pytest.raises(UserError, match="not one of the label names"):
        m("XX")
    with pytest.raises(UserError, match="label_names"):
        label_mapper(None)("EI")
