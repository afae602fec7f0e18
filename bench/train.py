"""Training speed of the zoo: throughput (sequences/second) per model and time to reach a target accuracy.

Throughput: full training steps (encode the batch from cleaned codes, forward, loss, backward, optimizer step) on
random sequences of a study geometry, after warm-up steps; also the inference rate. Time to accuracy: trains one
architecture with the study's settings (zoo.engine.fit) and stops at the first epoch whose *test* accuracy reaches
the target (the study's best splice figure, 0.950, by default), reporting wall time and epochs.

    python bench/train.py                                   # throughput of the study's 13 models, splice geometry
    python bench/train.py --archs 'deepram_*' --steps 20 --threads 2
    python bench/train.py --time-to-accuracy --arch cnn_nguyen_2_conv2d --source ../shared/data/splice
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zoo.encoding import encode_codes  # noqa: E402
from zoo.engine import evaluate, fit, flush_denormals, keep_freed_memory, seed_everything  # noqa: E402
from zoo.grid import expand_archs  # noqa: E402
from zoo.models.base import preferred_memory_format  # noqa: E402
from zoo.predict import DEFAULT_BATCH_SIZE  # noqa: E402 (sequences per inference call, as genozoo predict)
from zoo.registry import create_model, study_kwargs  # noqa: E402


@flush_denormals()
def throughput(arch: str, geometry: str, batch_size: int, steps: int, warmup: int, keep_memory: bool = True) -> dict:
    """Training and inference sequences/second of ``arch`` on random input of ``geometry``. Training keeps freed
    memory in the process as :func:`zoo.engine.fit` does (unless ``keep_memory`` is false, to measure what that
    saves); inference runs as ``genozoo predict`` does, one batch of its default size."""
    seed_everything(0)
    model = create_model(arch, **study_kwargs(arch, geometry))
    enc = model.encoding
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(batch_size * 8, enc.length), dtype=np.uint8)
    labels = torch.as_tensor(rng.integers(0, model.num_classes, size=batch_size * 8))
    model.to(memory_format=preferred_memory_format(model, torch.device("cpu")))  # as zoo.engine.fit trains
    opt = torch.optim.Adam(model.param_groups(0.0), lr=1e-3)
    model.train()

    def step(i: int) -> None:
        rows = slice((i % 8) * batch_size, (i % 8 + 1) * batch_size)
        x = encode_codes(codes[rows], enc)
        loss = model.loss(model(x), labels[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with keep_freed_memory() if keep_memory else contextlib.nullcontext():
        for i in range(warmup):
            step(i)
        t0 = time.perf_counter()
        for i in range(steps):
            step(i)
        train_rate = steps * batch_size / (time.perf_counter() - t0)
    model.eval()  # as zoo.predict runs it: in the same layout
    x = encode_codes(codes[:DEFAULT_BATCH_SIZE], enc)
    with torch.no_grad():
        model(x[:8])
        t0 = time.perf_counter()
        model(x)
        infer_rate = len(x) / (time.perf_counter() - t0)
    return {"arch": arch, "params": model.num_parameters(), "train_seq_per_s": round(train_rate, 1),
            "infer_seq_per_s": round(infer_rate, 1)}


class _Reached(Exception):
    pass


def time_to_accuracy(arch: str, dataset: str, source: str | None, data_args: dict, task: str, target: float,
                     max_epochs: int, batch_size: int, seed: int) -> dict:
    """Train with the study's settings until test accuracy >= target (checked after every epoch)."""
    from zoo.recipes import Recipe, build_model, load_data

    recipe = Recipe(arch=arch, dataset=dataset, source=source, data_args=data_args, task=task,
                    epochs=max_epochs, batch_size=batch_size, quiet=True)
    ds = load_data(recipe)
    seed_everything(seed)
    model = build_model(recipe, ds)
    trace: list[dict] = []

    def check(epoch: int, record: dict) -> None:
        acc = evaluate(model, ds["test"]).metrics["accuracy"]
        trace.append({"epoch": epoch, "seconds": record["seconds"], "val_accuracy": record["val_accuracy"],
                      "test_accuracy": acc})
        print(f"  epoch {epoch:3d}: {sum(t['seconds'] for t in trace):7.1f}s  val acc "
              f"{record['val_accuracy']:.4f}  test acc {acc:.4f}", flush=True)
        if acc >= target:
            raise _Reached

    try:
        fit(model, ds["train"], ds["validation"], recipe.train_config(seed), on_epoch_end=check)
        reached = None
    except _Reached:
        reached = trace[-1]["epoch"]
    return {"arch": arch, "dataset": dataset, "target": target, "reached_at_epoch": reached,
            "train_seconds": round(sum(t["seconds"] for t in trace[:reached or len(trace)]), 1),
            "best_test_accuracy": max(t["test_accuracy"] for t in trace), "epochs": trace,
            "threads": torch.get_num_threads()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default="study", help="comma-separated patterns ('study' = the 13; default)")
    p.add_argument("--geometry", default="splice", choices=["splice", "histone", "motif"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=30, help="timed training steps per model")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    p.add_argument("--no-keep-memory", action="store_true",
                   help="give freed memory back to the kernel after every step (glibc's default), as zoo.engine "
                        "did before keep_freed_memory")
    p.add_argument("--time-to-accuracy", action="store_true", help="measure time to --target instead")
    p.add_argument("--arch", default="cnn_nguyen_2_conv2d", help="model for --time-to-accuracy")
    p.add_argument("--dataset", default="splice")
    p.add_argument("--source", help="local copy of the dataset files (default: download)")
    p.add_argument("--protocol", default="paper", help="split protocol passed to zoo.data (default: paper)")
    p.add_argument("--target", type=float, default=0.950, help="test accuracy to reach (study's best splice)")
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.time_to_accuracy:
        print(f"time to test accuracy {args.target} for {args.arch} on {args.dataset} "
              f"({args.threads} thread(s), batch {args.batch_size}, Adam 1e-3):")
        results = [time_to_accuracy(args.arch, args.dataset, args.source, {"protocol": args.protocol},
                                    args.geometry, args.target, args.max_epochs, args.batch_size, args.seed)]
        r = results[0]
        status = f"reached at epoch {r['reached_at_epoch']}" if r["reached_at_epoch"] else "not reached"
        print(f"{r['arch']}: {status}, {r['train_seconds']} s of training, best test accuracy "
              f"{r['best_test_accuracy']:.4f}")
    else:
        print(f"training throughput, {args.geometry} geometry, batch {args.batch_size}, {args.threads} thread(s)"
              + (", freed memory unmapped" if args.no_keep_memory else ""))
        print(f"{'model':34s} {'params':>10s} {'train seq/s':>12s} {'infer seq/s':>12s}")
        results = []
        for arch in expand_archs(args.archs):
            r = throughput(arch, args.geometry, args.batch_size, args.steps, args.warmup, not args.no_keep_memory)
            results.append(r)
            print(f"{arch:34s} {r['params']:>10,d} {r['train_seq_per_s']:>12.1f} {r['infer_seq_per_s']:>12.1f}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
