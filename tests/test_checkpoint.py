"""zoo.checkpoint: no pickle anywhere in a checkpoint, a run killed at any file-system step of a checkpoint write
resumes to byte-identical weights, and identical tensors give identical safetensors bytes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from engine_tiny import TinyCNN, tiny_benchmark
from zoo import checkpoint as ckpt
from zoo.engine import TrainConfig, fit, seed_everything

CFG = dict(epochs=3, lr=5e-2, optimizer="sgd", momentum=0.9, schedule="cosine", warmup_epochs=1, quiet=True)


@pytest.fixture(scope="module")
def ds():
    return tiny_benchmark(n=160, length=40)


def _train(ds, run_dir=None, resume=False):
    seed_everything(0)
    model = TinyCNN(seq_len=40)
    fit(model, ds["train"], ds["validation"], TrainConfig(**CFG), run_dir=run_dir, resume=resume)
    return ckpt.safetensors_bytes(ckpt.state_to_cpu(model))


def test_checkpoint_holds_no_pickle_and_round_trips(ds, tmp_path):
    _train(ds, tmp_path)
    folder = ckpt.latest_checkpoint(tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["best.safetensors", "model.safetensors", "optim.json", "optim.safetensors",
                     "rng-rank0.json", "rng-rank0.safetensors", "state.json"]
    from safetensors import safe_open

    for p in folder.iterdir():  # every file is JSON or safetensors, nothing else (no pickle, no zip archive)
        if p.suffix == ".json":
            json.loads(p.read_text())
        else:
            with safe_open(str(p), "pt") as f:
                assert list(f.keys())
    saved = ckpt.load_checkpoint(folder)
    assert set(saved["optim"]) == {"optimizer", "scaler", "scheduler"}
    assert isinstance(saved["optim"]["optimizer"]["param_groups"][0]["params"], list)
    assert isinstance(saved["rng"]["random"], tuple)  # random.setstate needs its tuples back


def test_damaged_optimizer_state_is_one_sentence(ds, tmp_path):
    from zoo.errors import UserError

    _train(ds, tmp_path)
    folder = ckpt.latest_checkpoint(tmp_path)
    (folder / "optim.json").write_text('{"__dict__": [[1, {"__tensor__": "999"}]]}')
    with pytest.raises(UserError, match="is damaged"):
        ckpt.load_checkpoint(folder)


def test_identical_weights_give_identical_files(tmp_path):
    # The metadata map is serialized in a random order by the library in each process: compare two processes.
    code = ("import sys, torch; from zoo import checkpoint as c; "
            "c.save_weights({'w': torch.arange(6.).reshape(2, 3), 'b': torch.ones(3)}, sys.argv[1], "
            "metadata={'format': 'pt', 'arch': 'x', 'zeta': '1', 'alpha': '2', 'mid': '3'})")
    files = []
    for i in range(4):
        out = tmp_path / f"w{i}.safetensors"
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=120)
        files.append(out.read_bytes())
    assert all(f == files[0] for f in files)
    assert ckpt.load_weights(tmp_path / "w0.safetensors")["w"].tolist() == [[0, 1, 2], [3, 4, 5]]


def _operations():
    """The file-system calls a checkpoint write is made of (a kill between any two of them is a distinct state)."""
    return [(os, "replace"), (os, "fsync"), (os, "unlink"), (os, "rename"), (shutil, "rmtree"), (os, "mkdir")]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_at_every_step_of_a_checkpoint_write_resumes_byte_identical(ds, tmp_path):
    """Fork a training run that SIGKILLs itself before the k-th file-system call of epoch 2's checkpoint write,
    for every k, then resume it here: the final weights must equal the uninterrupted run's, byte for byte."""
    reference = _train(ds)
    k, kills = 0, 0
    while True:
        k += 1
        run_dir = tmp_path / f"k{k}"
        pid = os.fork()
        if pid == 0:  # the child: train and die at the k-th call inside epoch 2's checkpoint
            try:
                torch.set_num_threads(1)
                count = {"n": 0, "armed": False}
                original_save = ckpt.save_checkpoint

                def save_checkpoint(run_dir, *, epoch, **kw):
                    count["armed"] = epoch == 2
                    try:
                        return original_save(run_dir, epoch=epoch, **kw)
                    finally:
                        count["armed"] = False

                def wrap(fn):
                    def inner(*a, **kw):
                        if count["armed"]:
                            count["n"] += 1
                            if count["n"] == k:
                                os.kill(os.getpid(), signal.SIGKILL)
                        return fn(*a, **kw)
                    return inner

                ckpt.save_checkpoint = save_checkpoint
                for mod, name in _operations():
                    setattr(mod, name, wrap(getattr(mod, name)))
                _train(ds, run_dir)
                os._exit(0)  # k is past the last call: the run finished
            except BaseException:
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            break  # every step has been cut
        assert os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        assert ckpt.latest_checkpoint(run_dir) is not None  # epoch 1's checkpoint at least
        assert _train(ds, run_dir, resume=True) == reference, f"killed at step {k}"
        leftovers = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name not in ("LATEST", "epoch-0003")]
        assert leftovers == [], (k, leftovers)  # stale temporaries and old checkpoints are gone
    assert kills >= 10, kills  # the write really is made of many steps, each one cut once
    print(f"checkpoint write cut at each of {kills} steps, each resumed byte-identical")
