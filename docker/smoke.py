"""The container smoke test behind ``make docker-smoke`` (started by ``docker/smoke.sh``, which checks podman).

Builds the Dockerfile with podman from a locally made Debian base (``docker/make-base.sh``; registries cannot be
pulled here), with the on-disk torch CPU wheel folder mounted so no CUDA build is downloaded. Then: a CLI command
in the image, the space started in it (PID 1 is tini, the user is not root), one prediction through
``gradio_client`` checked against the same model run on the host, the HEALTHCHECK, and a SIGTERM that must stop
the container cleanly within seconds. Models: the published ones when the registry has any, else two tiny models
trained on a synthetic benchmark and mounted into the container. Exits non-zero on any failure.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "space"), str(ROOT / "tests"), str(ROOT)]


def sh(*cmd: str, check: bool = True, timeout: float | None = None, quiet: bool = False) -> subprocess.CompletedProcess:
    if not quiet:
        print("+", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        sys.exit(f"docker-smoke: FAILED: {' '.join(cmd[:3])} exited {res.returncode}\n{res.stdout[-3000:]}"
                 f"{res.stderr[-3000:]}")
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wheel_folder() -> str | None:
    """The folder where this machine's pip finds the local torch CPU wheel (``find-links``), if any."""
    folder = os.environ.get("WHEELS")
    if not folder:
        res = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                             capture_output=True, text=True)
        folder = res.stdout.strip().split()[0] if res.returncode == 0 and res.stdout.strip() else "/opt/wheels"
    return folder if any(Path(folder).glob("torch-*.whl")) else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="localhost/genozoo:smoke")
    ap.add_argument("--base", default="localhost/genozoo-base:bookworm")
    ap.add_argument("--keep-image", action="store_true", help="keep the built image (default: remove it)")
    args = ap.parse_args()
    t_start = time.time()

    sh(str(ROOT / "docker" / "make-base.sh"), args.base, timeout=900)
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if Path(hadolint).exists():
        sh(hadolint, str(ROOT / "Dockerfile"))

    build = ["podman", "build", "--isolation=chroot", "--format", "docker", "--network", "host",
             "--build-arg", f"BASE={args.base}", "-t", args.image]
    wheels = wheel_folder()
    if wheels:  # the base's pip.conf looks in /wheels; PyPI alone would give the CUDA build of torch
        build += ["-v", f"{wheels}:/wheels:ro", "--build-arg", "TORCH_INDEX="]
    t0 = time.time()
    sh(*build, str(ROOT), timeout=1800)
    t_build = time.time() - t0
    size = sh("podman", "image", "inspect", "--format", "{{.Size}}", args.image, quiet=True).stdout.strip()
    print(f"built {args.image} in {t_build:.0f} s ({int(size) / 2**20:.0f} MiB)", flush=True)

    import zoo

    mounts: list[str] = []
    tmp = None
    if zoo.list_models(pretrained=True):
        hub_dir = ROOT / "hub"
    else:  # nothing published yet: two tiny trained models, mounted read-only into the container
        from test_space import train_demo_models

        tmp = Path(tempfile.mkdtemp(prefix="genozoo-smoke-"))
        hub_dir = tmp / "hub"
        train_demo_models(hub_dir)
        subprocess.run(["chmod", "-R", "a+rX", str(tmp)], check=True)
        mounts = ["-v", f"{hub_dir}:/models:ro", "-e", "GENOZOO_HUB_DIR=/models"]

    name = f"genozoo-smoke-{os.getpid()}"
    try:
        out = sh("podman", "run", "--rm", *mounts, args.image, "genozoo", "list", "--pretrained", timeout=300)
        print(out.stdout.strip()[-800:])

        port = free_port()
        t_run = time.time()
        # The image's default command, on a free loopback port (the container shares the host's network).
        sh("podman", "run", "-d", "--name", name, *mounts, "-e", "GRADIO_SERVER_NAME=127.0.0.1",
           "-e", f"GRADIO_SERVER_PORT={port}", args.image)
        deadline = time.time() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                state = sh("podman", "inspect", "--format", "{{.State.Status}}", name, quiet=True).stdout.strip()
                if state != "running" or time.time() > deadline:
                    logs = sh("podman", "logs", name, check=False, quiet=True)
                    sys.exit(f"docker-smoke: FAILED: the space did not come up ({state})\n{logs.stdout[-3000:]}"
                             f"{logs.stderr[-3000:]}")
                time.sleep(1)
        print(f"space up in the container on port {port} after {time.time() - t_run:.0f} s", flush=True)

        assert sh("podman", "exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini", "PID 1 is not tini"
        uid = sh("podman", "exec", name, "id", "-u").stdout.strip()
        assert uid != "0", "the space runs as root"
        health = sh("podman", "healthcheck", "run", name, check=False)
        print(f"healthcheck: rc {health.returncode} {health.stdout.strip()} {health.stderr.strip()}")
        assert health.returncode == 0, "HEALTHCHECK failed"

        import numpy as np
        from gradio_client import Client
        from genozoo_space import Catalogue

        cat = Catalogue(hub_dir, "cpu")
        task = cat.tasks()[0]
        model = cat.models_for(task)[0]
        ids, seqs = cat.examples(task, n=3)
        text = "\n".join(f">{i}\n{s}" for i, s in zip(ids, seqs))
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        t1 = time.time()
        _status, table, *_ = client.predict(model, text, None, api_name="/predict")
        t_pred = time.time() - t1
        got = np.array([r[2:2 + len(cat.entry(model).label_names)] for r in table["data"]], dtype=float)
        want = cat.predict(model, seqs, ids).probabilities
        np.testing.assert_allclose(got, want, atol=1e-4)
        print(f"prediction through gradio_client ({model}, {len(seqs)} sequences, {t_pred:.2f} s) matches the "
              f"host: max |diff| {np.abs(got - want).max():.1e}", flush=True)

        t2 = time.time()
        sh("podman", "kill", "--signal", "TERM", name)
        code = sh("podman", "wait", name, timeout=60).stdout.strip()
        t_stop = time.time() - t2
        logs = sh("podman", "logs", name, check=False, quiet=True)
        print((logs.stdout + logs.stderr).strip()[-600:])
        print(f"SIGTERM: stopped in {t_stop:.1f} s with exit code {code}", flush=True)
        assert code in ("0", "143"), f"exit code {code} after SIGTERM"
        assert t_stop < 15, f"SIGTERM took {t_stop:.0f} s"
    finally:
        sh("podman", "rm", "-f", "--ignore", name, check=False, quiet=True)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_image:
            sh("podman", "rmi", "-f", args.image, check=False, quiet=True)
    print(f"docker-smoke: PASSED in {time.time() - t_start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
