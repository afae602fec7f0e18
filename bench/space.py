"""Load test of the Gradio space on loopback: N requests from C concurrent gradio_client clients.

Starts ``genozoo space`` as its own process on 127.0.0.1 (offline), warms it up, then sends the requests (each
``--batch`` example sequences through ``/predict``) and reports: answered / failed (none may be lost), latency
p50 / p95 / max, throughput, and the server's resident memory (VmRSS) after warm-up, after the load and after a
second identical load (flat memory = no growth from one round to the next). Models: the published ones, else two
tiny models trained here on a synthetic benchmark.

    .venv/bin/python bench/space.py [--requests 200] [--clients 20] [--batch 10] [--concurrency 2]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "space"), str(ROOT / "tests"), str(ROOT)]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (gradio runs in one process; torch may add threads only)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_round(url: str, model: str, text: str, n_requests: int, n_clients: int) -> dict:
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(n_clients)]
    expected = text.count(">")

    def user(c: int):
        """One client sending its share of the requests one after another, as a person at a browser does."""
        out = []
        for _ in range(c, n_requests, n_clients):
            t0 = time.perf_counter()
            try:
                _status, table, *_ = clients[c].predict(model, text, None, api_name="/predict")
                out.append((time.perf_counter() - t0, len(table["data"]) == expected, ""))
            except Exception as e:  # a lost or refused request is counted, not raised
                out.append((time.perf_counter() - t0, False, f"{type(e).__name__}: {e!r}"))
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        results = [r for rs in pool.map(user, range(n_clients)) for r in rs]
    wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results]) * 1000
    errors = [r[2] for r in results if not r[1]]
    return {"requests": n_requests, "answered": n_requests - len(errors), "failed": len(errors),
            "first_error": errors[0] if errors else "", "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)), "max_ms": float(lat.max()), "wall_s": wall,
            "requests_per_s": n_requests / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--batch", type=int, default=10, help="sequences per request (default: %(default)s)")
    ap.add_argument("--concurrency", type=int, default=2, help="the space's concurrency limit")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()

    import zoo

    tmp = None
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if not zoo.list_models(pretrained=True):
        from test_space import train_demo_models

        tmp = tempfile.TemporaryDirectory(prefix="genozoo-bench-")
        train_demo_models(Path(tmp.name))
        env["GENOZOO_HUB_DIR"] = tmp.name
    from genozoo_space import Catalogue

    cat = Catalogue(env.get("GENOZOO_HUB_DIR"), "cpu")
    task = cat.tasks()[0]
    model = cat.models_for(task)[0]
    ids, seqs = cat.examples(task, n=args.batch)
    text = "\n".join(f">{i}\n{s}" for i, s in zip(ids, seqs))

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "zoo", "space", "--port", str(port), "--device", "cpu",
                               "--concurrency", str(args.concurrency), "--max-queue", str(max(64, args.clients))],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    sys.exit(f"the space did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
        warm = load_round(url, model, text, 20, 4)
        rss0 = rss_mib(server.pid)
        first = load_round(url, model, text, args.requests, args.clients)
        rss1 = rss_mib(server.pid)
        second = load_round(url, model, text, args.requests, args.clients)
        rss2 = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if tmp is not None:
            tmp.cleanup()
    out = {"model": model, "device": "cpu", "batch": args.batch, "clients": args.clients,
           "concurrency": args.concurrency, "warmup_failed": warm["failed"], "round1": first, "round2": second,
           "rss_mib": {"after_warmup": rss0, "after_round1": rss1, "after_round2": rss2}}
    print(f"space load test: {args.requests} requests x 2 rounds from {args.clients} concurrent clients, "
          f"{args.batch} sequences each, model {model}, concurrency limit {args.concurrency}, "
          f"{os.cpu_count()} CPU core(s)")
    for name, r in (("round 1", first), ("round 2", second)):
        print(f"  {name}: answered {r['answered']}/{r['requests']} (failed {r['failed']}), "
              f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms, "
              f"{r['requests_per_s']:.1f} req/s" + (f"; first error: {r['first_error']}" if r["failed"] else ""))
    print(f"  server RSS: {rss0:.0f} MiB after warm-up, {rss1:.0f} MiB after round 1, {rss2:.0f} MiB after round 2 "
          f"(round 2 growth {rss2 - rss1:+.0f} MiB)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    lost = first["failed"] + second["failed"]
    # Flat: the second identical round may not grow the server by more than a tenth of its size.
    flat = rss2 - rss1 <= max(20.0, 0.1 * rss1)
    if lost or not flat:
        print(f"FAILED: {lost} request(s) lost; memory {'flat' if flat else 'growing'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
