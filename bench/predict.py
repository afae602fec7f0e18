"""Benchmark: `genozoo predict` end to end (FASTA in, CSV out) on 101 bp sequences: throughput, CPU time and peak
memory per model and thread setting, with the machine's load average beside every figure.

Writes N synthetic 101 bp sequences (planted-motif benchmark sequences, default 100,000) to a FASTA file, then runs
the real command line in a child process for each model and thread setting, ``--repeats`` times (going round the
settings, so that the machine's drift touches each alike), and reports the best run (the machine is shared; the
best run is the one least disturbed by others):

* sequences per second of the whole command (start-up, reading, cleaning, encoding, forward passes, writing the
  CSV) and as `genozoo predict` itself reports it (without start-up),
* sequences per CPU second of the child (user + system), a figure a busy machine distorts less,
* the share of the child's runnable time its threads spent waiting for a CPU held by other processes (the run
  queue, from ``/proc/PID/task/*/schedstat``) and the wall rate scaled by it ("est. idle": the rate of the same
  run had every runnable thread had a core; on a shared machine the other figures mostly measure the neighbours),
* the peak resident memory of the child, which must stay under ``--max-rss-mb`` (default 1024) whatever N is.

``--busy`` keeps another process spinning on one core during the runs, to check that the default thread setting is
not slower than ``--threads 1`` next to a busy neighbour (issue #24). Exits with status 1 if a memory bound is
broken or an output has the wrong row count.

    .venv/bin/python bench/predict.py                       # the four models of issue #24, default and 1 thread
    .venv/bin/python bench/predict.py --models deepram_conv1d_onehot.motif_ctcf --threads default,1,2 --busy
    .venv/bin/python bench/predict.py --arch cnn_zeng_2_conv2d --n 20000    # an untrained architecture
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("deepram_conv1d_recurrent_onehot.motif_ctcf", "deepram_conv1d_onehot.motif_ctcf",
          "cnn_nguyen_2_conv2d.splice", "doc2vec_mlp.motif_ezh2")
#: Sequences per second issue #24 asks of `genozoo predict` on a 2-core CPU.
TARGETS = {"deepram_conv1d_recurrent_onehot": 10_000, "deepram_conv1d_onehot": 10_000,
           "cnn_nguyen_2_conv2d": 5_000, "doc2vec_mlp": 2_000}


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


def _schedstat(pid: int, seen: dict) -> None:
    """Record the (run, run-queue wait) seconds of every thread of ``pid`` (``/proc/PID/task/*/schedstat``)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            run, wait = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[:2]
        except (OSError, ValueError):
            continue
        seen[tid] = (int(run) / 1e9, int(wait) / 1e9)


def run_once(model: str, fasta: Path, out: Path, threads: str, batch_size: int) -> dict:
    cmd = [sys.executable, "-m", "zoo", "predict", model, str(fasta), "-o", str(out),
           "--batch-size", str(batch_size), "--device", "cpu"]
    if threads != "default":
        cmd += ["--threads", threads]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("GENOZOO_THREADS", None)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    threads_seen: dict = {}
    while True:  # sample the child's threads until it exits (threads that end keep their last sample)
        _schedstat(proc.pid, threads_seen)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"genozoo predict failed:\n{stderr}")
    summary = next((line for line in stderr.splitlines() if line.startswith("predicted")), "")
    with open(out) as fh:
        rows = sum(1 for _ in fh) - 1
    own = summary.split("(")[1].split("/s")[0].replace(",", "") if "(" in summary else "nan"
    run = sum(r for r, _ in threads_seen.values())
    wait = sum(w for _, w in threads_seen.values())
    return {"wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "runqueue_fraction": wait / (run + wait) if run + wait > 0 else 0.0,
            "peak_rss_mb": usage.ru_maxrss / 1024, "rows": rows, "command_rate": float(own),
            "load_before": load, "load_after": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated published names or model folders (default: the four of issue #24)")
    ap.add_argument("--arch", help="an architecture, untrained, at the motif geometry, instead of --models")
    ap.add_argument("--n", type=int, default=100_000, help="number of sequences (default: %(default)s)")
    ap.add_argument("--length", type=int, default=101, help="sequence length (default: %(default)s)")
    ap.add_argument("--threads", default="default,1",
                    help="comma-separated thread settings: default (no --threads) or a number (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per setting; the best is kept (default: 3)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    ap.add_argument("--max-rss-mb", type=float, default=1024.0)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    results, ok = [], True
    try:
        with tempfile.TemporaryDirectory(prefix="genozoo-bench-") as tmp:
            tmp = Path(tmp)
            fasta, out = tmp / "input.fa", tmp / "predictions.csv"
            write_fasta(fasta, args.n, args.length)
            models = [str(model_folder(args.arch, tmp / "model"))] if args.arch else \
                [m.strip() for m in args.models.split(",") if m.strip()]
            print(f"genozoo predict, {args.n:,} sequences of {args.length} bp, best of {args.repeats}, "
                  f"{os.cpu_count()} CPUs{', one core kept busy by another process' if args.busy else ''}")
            print(f"{'model':44s} {'threads':>7s} {'seq/s':>8s} {'own seq/s':>9s} {'seq/CPU-s':>9s} "
                  f"{'rq wait':>7s} {'est. idle':>9s} {'peak MB':>8s}  load (1 min)")
            settings = [t.strip() for t in args.threads.split(",") if t.strip()]
            for model in models:
                # Repeats go round the settings (default, 1, default, 1, ...): a shared machine's speed drifts
                # over minutes, and all of one setting's runs before the other's measured the drift (a 14%
                # "gap" between two settings doing the same work, reversed when interleaved).
                all_runs: dict[str, list] = {t: [] for t in settings}
                for _ in range(args.repeats):
                    for threads in settings:
                        all_runs[threads].append(run_once(model, fasta, out, threads, args.batch_size))
                for threads in settings:
                    runs = all_runs[threads]
                    best = min(runs, key=lambda r: r["wall_seconds"])
                    name = args.arch or model
                    row = {"model": name, "threads": threads, "sequences": args.n, "length": args.length,
                           "sequences_per_second": round(args.n / best["wall_seconds"], 1),
                           "command_sequences_per_second": best["command_rate"],
                           "sequences_per_cpu_second": round(args.n / best["cpu_seconds"], 1),
                           "runqueue_fraction": round(best["runqueue_fraction"], 3),
                           "uncontended_estimate": round(
                               args.n / (best["wall_seconds"] * (1 - best["runqueue_fraction"])), 1),
                           "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
                           "load_average": [round(best["load_before"], 2), round(best["load_after"], 2)],
                           "target": TARGETS.get(Path(name).name.split(".")[0]), "busy_neighbour": args.busy,
                           "all_runs_seq_per_s": [round(args.n / r["wall_seconds"], 1) for r in runs]}
                    results.append(row)
                    ok &= all(r["rows"] == args.n for r in runs) and row["peak_rss_mb"] < args.max_rss_mb
                    print(f"{name:44s} {threads:>7s} {row['sequences_per_second']:8,.0f} "
                          f"{row['command_sequences_per_second']:9,.0f} {row['sequences_per_cpu_second']:9,.0f} "
                          f"{row['runqueue_fraction']:7.0%} {row['uncontended_estimate']:9,.0f} "
                          f"{row['peak_rss_mb']:8.0f}  {best['load_before']:.1f} -> {best['load_after']:.1f}",
                          flush=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
