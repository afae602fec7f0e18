"""Small models trained once per test session for the predict / explain / finetune / CLI tests.

Until published weights exist, these tests need a model that has learned something real: a small
``deepram_conv1d_onehot`` (k-mer input) and a small ``deepram_conv1d_embed`` (token input) trained on a synthetic
benchmark with a planted CTCF motif (presence / absence, 60 bp), each saved as a model folder with
:func:`zoo.hub.save_model`. The cache is module-level so that every test module of the session shares one
training run per model (pytest would otherwise build a session fixture once per module that imports it).
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
_CACHE: dict[str, "Trained"] = {}

#: Small variants: a few thousand parameters, seconds of training on one core.
SPECS = {
    "kmer": ("deepram_conv1d_onehot", dict(conv_filters=[16, 32], dense=32), 12),
    "tokens": ("deepram_conv1d_embed", dict(embedding_dim=8, conv_filters=[16, 32], dense=32), 30),
}


@dataclass
class Trained:
    model: torch.nn.Module
    folder: Path
    data: object  # the DatasetDict it was trained on (test split unseen in training)
    accuracy: float


def motif_benchmark():
    from zoo.data import planted_motif_benchmark

    return planted_motif_benchmark(2000, 60, ["CTCF"], seed=0)


def trained(kind: str, root: Path) -> Trained:
    """The model of ``SPECS[kind]`` trained on :func:`motif_benchmark`, saved under ``root`` (cached)."""
    if kind in _CACHE:
        return _CACHE[kind]
    import zoo
    from zoo import hub
    from zoo.engine import TrainConfig, evaluate, fit, seed_everything

    arch, kwargs, epochs = SPECS[kind]
    ds = motif_benchmark()
    seed_everything(0)
    model = zoo.create_model(arch, num_classes=2, seq_len=60, label_names=["absent", "present"], **kwargs)
    fit(model, ds["train"], ds["validation"], TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, quiet=True))
    model.eval()
    acc = evaluate(model, ds["test"]).metrics["accuracy"]
    cfg = zoo.PretrainedCfg(arch=arch, tag=f"ctcf-{kind}-test", num_classes=2, seq_len=60,
                            label_names=("absent", "present"), encoding=model.encoding.to_dict(),
                            dataset="synthetic-ctcf")
    folder = hub.save_model(model, root / f"{arch}.ctcf-{kind}-test", cfg, dataset="synthetic-ctcf")
    _CACHE[kind] = Trained(model, folder, ds, acc)
    return _CACHE[kind]


def run_cli(*args: str, stdin: str | None = None, cwd: Path = ROOT, timeout: int = 300
            ) -> subprocess.CompletedProcess:
    """The real command line in a child process (offline, no telemetry), run from ``cwd``."""
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def tiny_saved_model(folder: Path, seq_len: int, label_names: list[str]) -> Path:
    """A small seeded ``deepram_conv1d_onehot`` saved as a genozoo folder (weights, config.json, no card): the
    model the hardening and fuzz tests feed bad input to."""
    import torch

    import zoo
    from zoo import hub

    torch.manual_seed(0)
    model = zoo.create_model("deepram_conv1d_onehot", num_classes=len(label_names), seq_len=seq_len,
                             conv_filters=[4, 4], dense=8, label_names=label_names)
    return hub.save_model(model, folder, card=False)


def cli_in_process(*argv, cwd=None) -> tuple[int, str, str]:
    """``genozoo ARGV`` in this process (run from ``cwd`` when given): (exit status, stdout, stderr)."""
    import contextlib
    import io
    import os

    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:
                rc = e.code
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue()
