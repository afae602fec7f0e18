"""Training checkpoints: the complete state of a run, written atomically every epoch, read back without pickle.

A checkpoint is one folder ``<run>/checkpoints/epoch-NNNN/`` holding

* ``model.safetensors`` and ``best.safetensors``: the current weights and the best weights so far (safetensors);
* ``optim.safetensors`` + ``optim.json``: optimizer, LR-scheduler and grad-scaler state, its tensors as
  safetensors and the containers around them as JSON (:func:`save_state` / :func:`load_state`; no pickle: a
  checkpoint holds nothing that could run code when read);
* ``rng-rank<R>.safetensors`` + ``.json``: the random-number-generator states of each process (torch, CUDA,
  numpy, random), the same way;
* ``state.json``: epoch, best epoch and loss, early-stopping counter, the epoch log and the training config.

Every safetensors file is written with its header in a fixed order (:func:`safetensors_bytes`), so identical
tensors give identical bytes (the library's metadata map is otherwise ordered at random per process).

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
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_save

from zoo.errors import UserError
from zoo.outputs import atomic_write_json

__all__ = ["FILE_MODE", "make_readable", "atomic_write_text", "state_to_cpu", "safetensors_bytes", "save_weights",
           "load_weights", "save_state", "load_state", "save_checkpoint", "latest_checkpoint", "load_checkpoint",
           "rng_state", "set_rng_state", "barrier", "rank_world", "write_epoch_log"]


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
    atomic_write_json(run_dir / "epochs.json", history)  # strict JSON: an undefined score is null, not NaN
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for rec in history for k in rec)),
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "epochs.csv", buf.getvalue())


def state_to_cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()`` (separate storage per entry, as safetensors requires)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def safetensors_bytes(state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors serialization of ``state`` with the header's metadata in sorted key order (the library
    writes it from a hash map whose order changes from process to process), so equal input gives equal bytes."""
    data = safetensors_save({k: v.contiguous() for k, v in state.items()}, metadata=metadata)
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def save_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors (fixed header order), atomically."""
    from zoo.outputs import atomic_write_bytes

    atomic_write_bytes(path, safetensors_bytes(state, metadata))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


# ------------------------------------------------------------------------------ state without pickle
def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """``obj`` as JSON, its tensors and arrays moved to ``tensors`` and replaced by references. Dicts become
    key/value lists (optimizer state is keyed by int), tuples are marked, so the structure returns exactly."""
    if isinstance(obj, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(obj).copy())
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint (tensors, numbers, strings, "
                    f"lists, tuples and dicts only)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__dict__"]}
    return obj


def save_state(obj: Any, path: str | Path) -> None:
    """Write a nested state (optimizer, scheduler, RNG: tensors inside dicts, lists, tuples, numbers) as
    ``path.safetensors`` + ``path.json``, both atomically; read it back with :func:`load_state`."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(obj, tensors)
    save_weights(tensors, path.with_suffix(".safetensors"))
    atomic_write_text(path.with_suffix(".json"), json.dumps(structure, separators=(",", ":")))


def load_state(path: str | Path) -> Any:
    """Read what :func:`save_state` wrote (no pickle: JSON and safetensors only)."""
    path = Path(path)
    tensors = load_weights(path.with_suffix(".safetensors"))
    try:
        return _decode(json.loads(path.with_suffix(".json").read_text(encoding="utf-8")), tensors)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"checkpoint file {path.with_suffix('.json')} is damaged ({type(err).__name__}); delete "
                        f"the checkpoint folder to start the run again") from None


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
    save_state(rng_state(), tmp / f"rng-rank{rank}")
    if rank == 0:
        save_weights(state_to_cpu(model), tmp / "model.safetensors")
        save_weights(best_state, tmp / "best.safetensors")
        save_state(optim_state, tmp / "optim")
        atomic_write_text(tmp / "state.json", json.dumps({**trainer_state, "epoch": epoch, "world_size": world},
                                                         indent=1))
        _fsync_dir(tmp)
    barrier()
    if rank == 0:
        # A complete folder left by a run killed between its rename and the LATEST update is stale: replace it.
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(root)
        atomic_write_text(root / "LATEST", name + "\n")
        _fsync_dir(root)
        # Then everything else goes: the previous checkpoint, and whatever a run killed earlier left behind (a
        # half-written temporary folder, an older checkpoint whose removal was cut short).
        for entry in root.iterdir():
            if entry.name in (name, "LATEST"):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    barrier()
    return final


def _fsync_dir(path: Path) -> None:
    """Make a rename or new entries in ``path`` durable (a power cut after it still finds them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    if (path / "optim.pt").exists() and not (path / "optim.json").exists():
        raise UserError(f"checkpoint {path} was written by an older genozoo in a pickle format, which is no longer "
                        f"read; start the run again without --resume (or in a new output folder)")
    return {
        "state": state,
        "model": load_weights(path / "model.safetensors"),
        "best": load_weights(path / "best.safetensors"),
        "optim": load_state(path / "optim"),
        "rng": load_state(path / f"rng-rank{rank}"),
    }
