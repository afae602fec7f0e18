"""Benchmark: stream a large FASTA through `genozoo predict` and measure throughput and peak memory.

Writes N synthetic sequences (planted-motif benchmark sequences, default 200,000 of 101 bp) to a FASTA file, saves a
model folder of the chosen architecture at the study's motif geometry (untrained weights unless ``--model`` names
a trained folder or published name: the speed and memory of a forward pass do not depend on the weights' values),
then runs the real command line in a child process and reports

* sequences per second of the whole command (reading, encoding, the forward passes and writing the CSV; the
  command's own figure, which excludes start-up, is what `genozoo predict` prints), and per CPU second of the
  child (user + system time), a figure that a busy machine does not distort,
* the peak resident memory of the child (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``), which must stay
  under ``--max-rss-mb`` (default 1024: the acceptance bound) whatever N is, because input is read and predicted
  in batches.

Prints one JSON object; exits with status 1 if the memory bound is broken or the output has the wrong row count.

    .venv/bin/python bench/predict.py                   # 200,000 sequences, deepram_conv1d_onehot
    .venv/bin/python bench/predict.py --n 20000 --arch cnn_zeng_2_conv2d
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_fasta(path: Path, n: int, length: int, seed: int = 0, chunk: int = 20000) -> None:
    """N synthetic sequences, written chunk by chunk so the benchmark itself stays small in memory."""
    from zoo.data import sample_planted

    with open(path, "w") as fh:
        for start in range(0, n, chunk):
            s = sample_planted(min(chunk, n - start), length, seed=seed + start)
            fh.writelines(f">seq{start + i}\n{q}\n" for i, q in enumerate(s.sequences()))


def model_folder(arch: str, folder: Path) -> Path:
    import zoo
    from zoo import hub
    from zoo.registry import study_kwargs

    model = zoo.create_model(arch, **study_kwargs(arch, "motif"))
    hub.save_model(model, folder, card=False)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="number of sequences (default: %(default)s)")
    ap.add_argument("--length", type=int, default=101, help="sequence length (default: %(default)s)")
    ap.add_argument("--arch", default="deepram_conv1d_onehot", help="architecture (default: %(default)s)")
    ap.add_argument("--model", help="a trained model folder or published name instead of --arch")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads in the child (0: torch's default)")
    ap.add_argument("--rc", action="store_true", help="with reverse-complement averaging")
    ap.add_argument("--max-rss-mb", type=float, default=1024.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="genozoo-bench-") as tmp:
        tmp = Path(tmp)
        fasta, out = tmp / "input.fa", tmp / "predictions.csv"
        t0 = time.perf_counter()
        write_fasta(fasta, args.n, args.length)
        t_write = time.perf_counter() - t0
        model = args.model or str(model_folder(args.arch, tmp / "model"))
        cmd = [sys.executable, "-m", "zoo", "predict", model, str(fasta), "-o", str(out),
               "--batch-size", str(args.batch_size), "--device", args.device]
        if args.rc:
            cmd.append("--rc")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_kb = usage.ru_maxrss  # KiB on Linux
        cpu = usage.ru_utime + usage.ru_stime
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        with open(out) as fh:
            rows = sum(1 for _ in fh) - 1
        summary = next((line for line in proc.stderr.splitlines() if line.startswith("predicted")), "")
        result = {
            "sequences": args.n, "length": args.length, "model": args.model or f"{args.arch} (motif geometry)",
            "rc": args.rc, "batch_size": args.batch_size, "input_mb": round(fasta.stat().st_size / 2**20, 1),
            "rows_written": rows, "wall_seconds": round(wall, 2),
            "sequences_per_second_end_to_end": round(args.n / wall, 1),
            "child_cpu_seconds": round(cpu, 2), "sequences_per_cpu_second": round(args.n / cpu, 1),
            "cli_summary": summary, "peak_rss_mb": round(peak_kb / 1024, 1),
            "peak_rss_bound_mb": args.max_rss_mb, "fasta_write_seconds": round(t_write, 2),
        }
    print(json.dumps(result, indent=1))
    ok = rows == args.n and peak_kb / 1024 < args.max_rss_mb
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
