"""Encoding throughput: zoo.encoding (vectorized) against a straightforward per-character implementation.

Encodes 1,000,000 random sequences of 101 bp in chunks (as a data loader would) into one-hot and the study's
k-mer representations, and a sample of them with the per-character reference, on one core. Prints MB of sequence
per second (the best of --repeat runs of each, as timeit advises, so a busy moment on a shared machine does not
decide the figure) and the speed-up. Targets (issue 2): >= 50x faster than per-character, >= 200 MB/s for one-hot.

    python bench/encoding.py [--n 1000000] [--length 101] [--chunk 256] [--naive-n 20000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from zoo import encoding as E
from zoo.summary import random_sequences

BASES = {"A": 0, "C": 1, "G": 2, "T": 3}


def naive_one_hot(seqs: list[str]) -> np.ndarray:
    out = np.zeros((len(seqs), 4, len(seqs[0])), dtype=np.float32)
    for i, s in enumerate(seqs):
        for j, ch in enumerate(s.upper()):
            if ch in BASES:
                out[i, BASES[ch], j] = 1.0
            elif ch not in "NRYSWKMBDHV":
                raise ValueError(ch)
    return out


def naive_kmer(seqs: list[str], k: int = 3, region: int = 0) -> np.ndarray:
    P = len(seqs[0]) - k + 1
    out = np.zeros((len(seqs), P, 4 ** k * (region + 1)), dtype=np.uint8)
    for i, s in enumerate(seqs):
        s = s.upper()
        for p in range(P):
            for j in range(region + 1):
                word = s[p + j:p + j + k]
                if len(word) == k and all(c in BASES for c in word):
                    idx = 0
                    for c in word:
                        idx = idx * 4 + BASES[c]
                    out[i, p, j * 4 ** k + idx] = 1
    return out


def throughput(fn, seqs: list[str], chunk: int, repeat: int) -> float:
    """MB of sequence per second, encoding ``seqs`` chunk by chunk; the best of ``repeat`` runs."""
    nbytes = sum(map(len, seqs))
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(0, len(seqs), chunk):
            fn(seqs[i:i + chunk])
        best = min(best, time.perf_counter() - t)
    return nbytes / 1e6 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--length", type=int, default=101)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--naive-n", type=int, default=20_000, help="sequences for the per-character reference")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts")
    args = ap.parse_args()
    torch.set_num_threads(1)
    L = args.length
    seqs = random_sequences(args.n, L, seed=1)
    cases = [
        ("one-hot (N,4,L)", E.Encoding("onehot", L), naive_one_hot),
        ("k-mer image k=3 r=0", E.Encoding("kmer_image", L, region=0), lambda s: naive_kmer(s, 3, 0)),
        ("k-mer seq k=3 r=2", E.Encoding("kmer_seq", L, region=2), lambda s: naive_kmer(s, 3, 2)),
        ("tokens", E.Encoding("tokens", L), None),
    ]
    print(f"{args.n:,} sequences x {L} bp = {args.n * L / 1e6:.0f} MB, chunks of {args.chunk:,}, one core, "
          f"best of {args.repeat}")
    print(f"{'encoding':<22}{'genozoo MB/s':>14}{'per-char MB/s':>15}{'speed-up':>10}")
    for name, enc, naive in cases:
        fast = throughput(lambda s: E.encode(s, enc, return_tensor=False), seqs, args.chunk, args.repeat)
        if naive is not None:
            for a, b in zip(naive(seqs[:50]), E.encode(seqs[:50], enc, return_tensor=False)):
                assert np.array_equal(a if enc.kind != "kmer_seq" else a.T, b[0] if enc.kind == "kmer_image" else b)
            slow = throughput(naive, seqs[:args.naive_n], args.chunk, args.repeat)
            print(f"{name:<22}{fast:>14.1f}{slow:>15.2f}{fast / slow:>9.0f}x")
        else:
            print(f"{name:<22}{fast:>14.1f}{'-':>15}{'-':>10}")


if __name__ == "__main__":
    main()
