"""Load and memory benchmark of the Gradio space on loopback, with real HTTP clients (Gradio's HTTP API, as curl uses it).

Starts ``genozoo space`` as its own process on 127.0.0.1 (offline, the published models), then:

1. latency: for the default model of every task, ``--clients`` concurrent clients each send ``--per-client``
   requests one after another (as a person at a browser does), each holding ``--batch`` random sequences of the
   task's input length (seeded, different in every request, so no answer can be reused). Reports answered /
   failed (none may be lost) and p50 / p95 / max latency per task and over all tasks.
2. memory: ``--mixed`` mixed requests (every task, random models: predict, compare and explain) from a few
   clients; the server's resident memory (VmRSS) after the first 50 and after all of them. Bounded memory means
   the second within 1.25x of the first.

The machine may be shared: the load average before and after is printed with the figures, and the server's CPU
time per request, which holds when the wall-clock figures do not.

    .venv/bin/python bench/space.py [--clients 20] [--per-client 10] [--batch 10] [--mixed 1000] [--json F]
    .venv/bin/python bench/space.py --tasks histone_h3_gue --mixed 0 --default histone_h3_gue=MODEL
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "space"), str(ROOT)]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def rss_mib(pid: int) -> float:
    """Resident memory of the server process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpUser:
    """One user of the space over Gradio's HTTP API (what ``curl`` users do: POST ``/gradio_api/call/NAME``, then
    read the result's event stream), with its own session and kept-alive connection. gradio_client costs about
    120 ms of CPU per call here: twenty of them on the server's two cores would measure the client, not the space."""

    def __init__(self, url: str):
        import http.client
        import uuid
        from urllib.parse import urlparse

        u = urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        self.session = uuid.uuid4().hex[:12]

    def call(self, api: str, *data):
        """The outputs of one call, or RuntimeError with the space's message."""
        import http.client

        body = json.dumps({"data": list(data), "session_hash": self.session})
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile: reconnect once
            try:
                self.conn.request("POST", f"/gradio_api/call/{api}", body, {"Content-Type": "application/json"})
                response = self.conn.getresponse()
                answer = response.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                self.conn.close()
                if attempt:
                    raise
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
        self.conn.request("GET", f"/gradio_api/call/{api}/{json.loads(answer)['event_id']}")
        stream = self.conn.getresponse().read().decode()
        event = None
        for line in stream.splitlines():
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event in ("complete", "error"):
                payload = json.loads(line[6:])
                if event == "error":
                    raise RuntimeError(str(payload))
                return payload
        raise RuntimeError(f"no result in the event stream: {stream[:200]!r}")

    def close(self) -> None:
        self.conn.close()


def random_fasta(rng: random.Random, n: int, length: int, tag: str) -> str:
    return "\n".join(f">{tag}-{i}\n{''.join(rng.choices('ACGT', k=length))}" for i in range(n))


def start_server(port: int, extra: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")
    server = subprocess.Popen([sys.executable, "-m", "zoo", "space", "--port", str(port), "--device", "cpu", *extra],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                sys.exit(f"the space did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_round(url: str, model: str, length: int, n_clients: int, per_client: int, batch: int,
                  seed: int, pid: int | None = None) -> dict:
    """``n_clients`` users at once, each sending ``per_client`` requests in a row; every request is timed, and
    the server's CPU time per request (``pid``) is taken, the figure that holds when the machine is shared."""
    clients = [HttpUser(url) for _ in range(n_clients)]
    texts = [[random_fasta(random.Random(seed * 100_003 + c * 1009 + r), batch, length, f"c{c}r{r}")
              for r in range(per_client)] for c in range(n_clients)]

    def user(c: int):
        out = []
        for text in texts[c]:
            t0 = time.perf_counter()
            try:
                _status, table, *_ = clients[c].call("predict", model, text, None)
                out.append((time.perf_counter() - t0, len(table["data"]) == batch, ""))
            except Exception as e:  # a lost or refused request is counted, not raised
                out.append((time.perf_counter() - t0, False, str(e)))
        return out

    cpu0 = cpu_seconds(pid) if pid else float("nan")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        results = [r for rs in pool.map(user, range(n_clients)) for r in rs]
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0 if pid else float("nan")
    for c in clients:
        c.close()
    lat = np.array([r[0] for r in results]) * 1000
    errors = [r[2] for r in results if not r[1]]
    return {"model": model, "requests": len(results), "answered": len(results) - len(errors),
            "failed": len(errors), "first_error": errors[0] if errors else "", "latencies_ms": lat.tolist(),
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "max_ms": float(lat.max()), "wall_s": wall, "requests_per_s": len(results) / wall,
            "server_cpu_ms_per_request": cpu * 1000 / len(results)}


def mixed_requests(url: str, cat, n: int, n_clients: int, pid: int, seed: int = 0) -> dict:
    """``n`` requests over every task: 84% predict (any model), 8% compare, 8% explain; RSS after 50 and after n."""
    rng = random.Random(seed)
    tasks = cat.tasks()
    plan = []
    for i in range(n):
        task = tasks[i % len(tasks)]
        length = cat.task_length(task) or 101
        kind = rng.choices(["predict", "compare", "explain"], weights=[84, 8, 8])[0]
        model = rng.choice(cat.models_for(task))
        plan.append((kind, task, model, random_fasta(rng, 2 if kind == "explain" else 10, length, f"m{i}")))
    clients = [HttpUser(url) for _ in range(n_clients)]
    failed: list[str] = []

    def one(i: int, c: int) -> None:
        kind, task, model, text = plan[i]
        try:
            if kind == "predict":
                clients[c].call("predict", model, text, None)
            elif kind == "compare":
                clients[c].call("compare", task, text, None)
            else:
                clients[c].call("explain", model, text, None, "", "")
        except Exception as e:
            failed.append(f"{kind} {model}: {e}")

    def run(lo: int, hi: int) -> None:
        with ThreadPoolExecutor(n_clients) as pool:
            list(pool.map(lambda c: [one(i, c) for i in range(lo + c, hi, n_clients)], range(n_clients)))

    t0 = time.perf_counter()
    run(0, 50)
    rss50 = rss_mib(pid)
    run(50, n)
    rss_end = rss_mib(pid)
    for c in clients:
        c.close()
    return {"requests": n, "failed": len(failed), "first_error": failed[0] if failed else "",
            "kinds": {k: sum(p[0] == k for p in plan) for k in ("predict", "compare", "explain")},
            "rss_after_50_mib": rss50, "rss_after_all_mib": rss_end, "ratio": rss_end / rss50,
            "wall_s": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--per-client", type=int, default=10, help="requests each client sends in a row")
    ap.add_argument("--batch", type=int, default=10, help="sequences per request (default: %(default)s)")
    ap.add_argument("--mixed", type=int, default=1000, help="mixed requests of the memory phase (0: skip it)")
    ap.add_argument("--mixed-clients", type=int, default=4)
    ap.add_argument("--tasks", nargs="*", help="only these tasks in the latency phase (default: all)")
    ap.add_argument("--default", action="append", metavar="TASK=MODEL", default=[],
                    help="the space's --default: a task's model instead of the best by validation (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()

    from genozoo_space import Catalogue

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cat = Catalogue(None, "cpu", defaults=dict(pair.split("=", 1) for pair in args.default))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"genozoo-bench-space-{port}.log"
    load0 = os.getloadavg()
    server = start_server(port, ["--max-queue", str(max(64, 2 * args.clients)),
                                 *(f"--default={pair}" for pair in args.default)], env, log_path)
    rounds, mixed = {}, None
    try:
        for seed, task in enumerate(args.tasks or cat.tasks()):
            model = cat.models_for(task)[0]
            latency_round(url, model, cat.task_length(task) or 101, 2, 2, args.batch, 999)  # load and warm up
            rounds[task] = latency_round(url, model, cat.task_length(task) or 101, args.clients, args.per_client,
                                         args.batch, seed, server.pid)
        if args.mixed:
            mixed = mixed_requests(url, cat, args.mixed, args.mixed_clients, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    load1 = os.getloadavg()
    log = log_path.read_text()
    all_lat = np.concatenate([r["latencies_ms"] for r in rounds.values()]) if rounds else np.zeros(1)
    print(f"space benchmark on {os.cpu_count()} CPU core(s); load average {load0[0]:.1f} before, {load1[0]:.1f} "
          f"after (the machine may be shared)")
    print(f"latency: {args.clients} concurrent clients x {args.per_client} requests x {args.batch} random "
          f"sequences, the default model of each task")
    for task, r in rounds.items():
        print(f"  {task:16s} {r['model']:48s} answered {r['answered']}/{r['requests']}, p50 {r['p50_ms']:.0f} ms, "
              f"p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms, {r['requests_per_s']:.1f} req/s, server CPU "
              f"{r['server_cpu_ms_per_request']:.1f} ms/request"
              + (f"; first error: {r['first_error']}" if r["failed"] else ""))
    cpu_ms = np.mean([r["server_cpu_ms_per_request"] for r in rounds.values()]) if rounds else float("nan")
    print(f"  all tasks: p50 {np.percentile(all_lat, 50):.0f} ms, p95 {np.percentile(all_lat, 95):.0f} ms, "
          f"server CPU {cpu_ms:.1f} ms/request")
    if mixed:
        print(f"memory: {mixed['requests']} mixed requests {mixed['kinds']} in {mixed['wall_s']:.0f} s, failed "
              f"{mixed['failed']}; server RSS {mixed['rss_after_50_mib']:.0f} MiB after 50, "
              f"{mixed['rss_after_all_mib']:.0f} MiB after all ({mixed['ratio']:.2f}x)"
              + (f"; first error: {mixed['first_error']}" if mixed["failed"] else ""))
    tracebacks = log.count("Traceback")
    print(f"server log: {tracebacks} traceback(s)")
    if args.json:
        for r in rounds.values():
            r.pop("latencies_ms")
        args.json.write_text(json.dumps({"load_before": load0, "load_after": load1, "rounds": rounds,
                                         "mixed": mixed, "tracebacks": tracebacks}, indent=1))
    lost = sum(r["failed"] for r in rounds.values()) + (mixed["failed"] if mixed else 0)
    bounded = mixed is None or mixed["ratio"] <= 1.25
    slow = float(np.percentile(all_lat, 95)) >= 300
    if lost or not bounded or slow or tracebacks:
        print(f"NOT MET: {lost} request(s) lost; memory {'bounded' if bounded else 'growing'}; p95 "
              f"{'over' if slow else 'under'} 300 ms; {tracebacks} traceback(s) in the server log")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
