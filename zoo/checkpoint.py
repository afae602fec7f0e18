"""Training checkpoints: the complete state of a run, written atomically every epoch, read back without pickle.

A checkpoint is one folder ``<run>/checkpoints/epoch-NNNN/`` holding

* ``model.safetensors`` and ``best.safetensors``: the current weights and the best weights so far (safetensors);
* ``optim.pt``: optimizer, LR-scheduler and grad-scaler state, plain tensors and containers written with
  ``torch.save`` and read with ``torch.load(weights_only=True)`` (no arbitrary objects are unpickled);
* ``rng-rank<R>.pt``: the random-number-generator states of each process (torch, CUDA, numpy, random);
* ``state.json``: epoch, best epoch and loss, early-stopping counter, the epoch log and the training config.

It also writes the run's per-epoch log (:func:`write_epoch_log`) and other small files atomically.

The folder is written in full under a temporary name and renamed, then ``LATEST`` (a one-line pointer file) is
replaced atomically; only after that is the previous checkpoint removed. A process killed at any moment leaves
``LATEST`` naming a complete checkpoint.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from zoo.errors import UserError

__all__ = ["FILE_MODE", "make_readable", "atomic_write_text", "state_to_cpu", "save_weights", "load_weights", "save_checkpoint",
           "latest_checkpoint", "load_checkpoint", "rng_state", "set_rng_state", "barrier", "rank_world", "write_epoch_log"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Mode of the files genozoo writes: what the user's umask allows (safetensors writes 0600 temporaries).
FILE_MODE = 0o666 & ~_umask()


def make_readable(path: str | Path) -> None:
    """Give a written file the user's usual permissions, so others (a container's user, a shared folder) can read
    weights as they can read the rest."""
    os.chmod(path, FILE_MODE)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace`` (never half-written)."""
    from zoo.outputs import atomic_write_text as write

    write(path, text)


def write_epoch_log(run_dir: str | Path, history: list[dict]) -> None:
    """The per-epoch log as ``epochs.json`` and ``epochs.csv`` (one row per epoch), each written atomically."""
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / "epochs.json", json.dumps(history, indent=1))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for rec in history for k in rec)),
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "epochs.csv", buf.getvalue())


def state_to_cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()`` (separate storage per entry, as safetensors requires)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def save_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
    make_readable(tmp)
    os.replace(tmp, path)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


# ------------------------------------------------------------------------------------------------ RNG
def rng_state() -> dict[str, Any]:
    """Every RNG the training loop draws from, as tensors and plain containers (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "random": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate(state["random"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------- checkpoints
def rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def save_checkpoint(run_dir: str | Path, *, epoch: int, model: torch.nn.Module,
                    best_state: dict[str, torch.Tensor], optim_state: dict[str, Any],
                    trainer_state: dict[str, Any]) -> Path:
    """Write the checkpoint of a finished ``epoch`` (1-based) and point ``LATEST`` at it.

    Collective under ``torch.distributed``: every rank writes its own RNG file, rank 0 the rest.
    """
    rank, world = rank_world()
    root = Path(run_dir) / "checkpoints"
    name = f"epoch-{epoch:04d}"
    tmp, final = root / f".{name}.tmp", root / name
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    torch.save(rng_state(), tmp / f"rng-rank{rank}.pt")
    if rank == 0:
        save_weights(state_to_cpu(model), tmp / "model.safetensors")
        save_weights(best_state, tmp / "best.safetensors")
        torch.save(optim_state, tmp / "optim.pt")
        (tmp / "state.json").write_text(json.dumps({**trainer_state, "epoch": epoch, "world_size": world},
                                                   indent=1))
    barrier()
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        previous = latest_checkpoint(run_dir)
        atomic_write_text(root / "LATEST", name + "\n")
        if previous is not None and previous != final:
            shutil.rmtree(previous, ignore_errors=True)
    barrier()
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint folder ``LATEST`` points at, or ``None`` when the run has none."""
    pointer = Path(run_dir) / "checkpoints" / "LATEST"
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / "state.json").exists() else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint folder: ``model``, ``best`` (state dicts), ``optim``, ``rng`` (this rank) and ``state``."""
    path = Path(path)
    rank, world = rank_world()
    state = json.loads((path / "state.json").read_text())
    if state.get("world_size", 1) != world:
        raise UserError(f"checkpoint {path} was written by {state.get('world_size', 1)} process(es), not {world}; "
                        f"resume with the same number of processes (torchrun --nproc_per_node)")
    return {
        "state": state,
        "model": load_weights(path / "model.safetensors"),
        "best": load_weights(path / "best.safetensors"),
        "optim": torch.load(path / "optim.pt", weights_only=True, map_location="cpu"),
        "rng": torch.load(path / f"rng-rank{rank}.pt", weights_only=True),
    }
