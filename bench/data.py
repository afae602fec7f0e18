"""Data-path benchmark: load + encode throughput and the memory of streaming encoding.

1. Throughput on N synthetic planted-motif sequences of 101 bp (default 1,000,000): generating them, building the
   Arrow-backed DatasetDict, and reading the train split back as encoded (x, y) batches for the motif geometry's
   representations (column slices, ``zoo.data.iter_encoded_batches``; and a DataLoader with ``encode_collate``
   over a sample, the slower row-dict path). For scale, the training throughput (forward + backward + Adam step) of
   the fastest study model at the same batch size, so "encoding is not the bottleneck" can be read off.
2. Streaming memory: the same encoding streamed from Zeng-format files of n and 10n records through
   ``StreamingEncodedDataset``; peak traced memory (tracemalloc: Python and numpy allocations) and the peak
   resident memory of a fresh process streaming each file (``VmHWM``, torch included) must stay flat.

    python bench/data.py                       # 1,000,000 sequences, streaming 100,000 vs 1,000,000 records
    python bench/data.py --n 200000 --stream-n 20000 --threads 1 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zoo.data import (StreamingEncodedDataset, encode_collate, iter_encoded_batches,  # noqa: E402
                      planted_motif_benchmark, sample_planted)
from zoo.encoding import Encoding  # noqa: E402

ENCODINGS = {
    "onehot": Encoding("onehot", length=101),
    "kmer_seq r=2 (DeepRAM)": Encoding("kmer_seq", length=101, k=3, region=2),
    "kmer_image r=2 (Conv2D)": Encoding("kmer_image", length=101, k=3, region=2),
    "tokens": Encoding("tokens", length=101),
}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def throughput(n: int, batch: int) -> dict:
    res: dict = {"n": n, "length": 101, "batch": batch}
    _, t = timed(lambda: sample_planted(n, 101, ("CTCF",), seed=0))
    res["generate_arrays_s"] = round(t, 2)
    dd, t = timed(lambda: planted_motif_benchmark(n=n, length=101, motifs=("CTCF",), seed=0))
    res["build_datasetdict_s"] = round(t, 2)
    train = dd["train"]
    res["train_rows"] = train.num_rows
    res["encode"] = {}
    for name, enc in ENCODINGS.items():
        count = 0
        t = time.perf_counter()
        for x, y in iter_encoded_batches(train, enc, batch_size=batch, shuffle=True, seed=0):
            count += len(y)
        dt = time.perf_counter() - t
        res["encode"][name] = {"seqs_per_s": round(count / dt), "seconds": round(dt, 2),
                               "batch_shape": list(x.shape)}
        print(f"  load+encode {name:26s} {count / dt:>12,.0f} seq/s  ({dt:.1f} s for {count:,})", flush=True)
    sample = train.select(range(min(50_000, train.num_rows)))
    loader = torch.utils.data.DataLoader(sample, batch_size=batch, shuffle=True,
                                         collate_fn=encode_collate(ENCODINGS["onehot"]))
    (_, dt) = timed(lambda: sum(len(y) for _, y in loader))
    res["dataloader_collate_onehot_seqs_per_s"] = round(sample.num_rows / dt)
    print(f"  DataLoader+encode_collate onehot  {sample.num_rows / dt:>12,.0f} seq/s (row dicts)", flush=True)
    return res


def model_throughput(batch: int, steps: int = 5) -> dict:
    """Training steps per second of a few small study models on the motif geometry (encoded input ready)."""
    from zoo.registry import create_model, study_kwargs

    out = {}
    codes_seqs = sample_planted(batch, 101, seed=1).sequences()
    for arch in ("cnn_zeng_2_conv2d", "deepram_conv1d_onehot", "deepram_conv1d_embed", "cnn_nguyen_conv1d_2_conv2d"):
        model = create_model(arch, **study_kwargs(arch, "motif"))
        x = __import__("zoo").encode(codes_seqs, model.encoding)
        y = torch.randint(0, 2, (batch,))
        opt = torch.optim.Adam(model.parameters())
        model.train()
        for i in range(steps + 1):
            if i == 1:
                t = time.perf_counter()
            loss = model.loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[arch] = round(batch * steps / (time.perf_counter() - t))
        print(f"  train step {arch:28s} {out[arch]:>12,} seq/s", flush=True)
    return out


def write_zeng(path: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    chars = np.frombuffer(b"ACGT", np.uint8)
    with open(path, "w") as fh:
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            codes = rng.integers(0, 4, (m, 101), dtype=np.uint8)
            text = chars[codes].tobytes().decode()
            fh.write("".join(f"chr1:{start + i}{'_shuf' if i % 2 else ''} {text[i * 101:(i + 1) * 101]} "
                             f"{1 - i % 2}\n" for i in range(m)))


def streaming_peak(path: str, enc: Encoding, batch: int) -> dict:
    ds = StreamingEncodedDataset(path, enc, batch_size=batch, shuffle_buffer=10_000, seed=0)
    tracemalloc.start()
    t = time.perf_counter()
    count = 0
    for x, y in torch.utils.data.DataLoader(ds, batch_size=None):
        count += len(y)
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"records": count, "peak_mib": round(peak / 2**20, 2), "seqs_per_s": round(count / dt),
            "file_mib": round(os.path.getsize(path) / 2**20, 1)}


_RSS_CHILD = """
import resource, sys, torch
sys.path.insert(0, {root!r})
from zoo.data import StreamingEncodedDataset
from zoo.encoding import Encoding
enc = Encoding.from_dict({enc!r})
n = sum(len(y) for _, y in StreamingEncodedDataset({path!r}, enc, batch_size={batch}, shuffle_buffer=10_000))
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
# VmHWM is this process image's own peak; ru_maxrss would include the parent's RSS at fork time.
print(n, int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def streaming_rss(path: str, enc: Encoding, batch: int) -> float:
    """Peak resident memory (MiB) of a fresh process that streams ``path``: everything, torch included."""
    import subprocess

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    code = _RSS_CHILD.format(root=root, enc=enc.to_dict(), path=path, batch=batch)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return round(int(out[1]) / 1024, 1)  # KiB -> MiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic sequences for throughput (default 1e6)")
    ap.add_argument("--stream-n", type=int, default=100_000, help="records of the small streaming file; the "
                                                                   "large one has 10x (default 100,000)")
    ap.add_argument("--batch", type=int, default=512, help="batch size (the study's motif batch, default 512)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {"threads": args.threads}
    print(f"load + encode, {args.n:,} synthetic sequences of 101 bp, batch {args.batch}, {args.threads} thread(s)")
    results["throughput"] = throughput(args.n, args.batch)
    print("model training throughput for scale (motif geometry)")
    results["train_step_seqs_per_s"] = model_throughput(args.batch)
    print(f"streaming encoding (kmer_seq r=2 and onehot), {args.stream_n:,} vs {10 * args.stream_n:,} records")
    with tempfile.TemporaryDirectory() as tmp:
        small, large = os.path.join(tmp, "small.data"), os.path.join(tmp, "large.data")
        write_zeng(small, args.stream_n, 0)
        write_zeng(large, 10 * args.stream_n, 1)
        results["streaming"] = {}
        for name in ("onehot", "kmer_seq r=2 (DeepRAM)"):
            a = streaming_peak(small, ENCODINGS[name], args.batch)
            b = streaming_peak(large, ENCODINGS[name], args.batch)
            a["max_rss_mib"] = streaming_rss(small, ENCODINGS[name], args.batch)
            b["max_rss_mib"] = streaming_rss(large, ENCODINGS[name], args.batch)
            results["streaming"][name] = {"small": a, "large": b, "peak_ratio": round(b["peak_mib"] / a["peak_mib"], 3)}
            print(f"  {name:26s} peak {a['peak_mib']:.1f} MiB ({a['records']:,}, {a['file_mib']} MiB file) -> "
                  f"{b['peak_mib']:.1f} MiB ({b['records']:,}, {b['file_mib']} MiB file): ratio "
                  f"{b['peak_mib'] / a['peak_mib']:.3f}; {b['seqs_per_s']:,} seq/s; process max RSS "
                  f"{a['max_rss_mib']} -> {b['max_rss_mib']} MiB", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
