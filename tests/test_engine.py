"""zoo.engine / zoo.checkpoint: training improves a tiny model, resume is exact (in process and after SIGKILL),
early stopping restores the best epoch, checkpoints load without pickle."""
import json
import os
import subprocess
import sys

import pytest
import torch

from engine_tiny import TinyCNN, tiny_benchmark, write_script
from zoo import checkpoint as ckpt
from zoo.engine import TrainConfig, evaluate, fit, prepare, seed_everything
from zoo.errors import UserError


@pytest.fixture(scope="module")
def ds():
    return tiny_benchmark(n=240, length=40)


def _model(seed=0, **kw):
    seed_everything(seed)
    return TinyCNN(seq_len=40, **kw)


def test_fit_improves_loss_and_keeps_best_epoch(ds):
    model = _model()
    before = evaluate(model, ds["validation"]).loss
    result = fit(model, ds["train"], ds["validation"], TrainConfig(epochs=6, lr=1e-2, quiet=True))
    after = evaluate(model, ds["validation"])
    assert after.loss < before - 0.05, (before, after.loss)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    val_losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + val_losses.index(min(val_losses))
    # The weights left in the model are the best epoch's: they reproduce its validation loss.
    assert after.loss == pytest.approx(min(val_losses), abs=1e-6)
    assert after.metrics["accuracy"] > 0.6 and len(result.history) == 6


class Crash(RuntimeError):
    pass


CONFIGS = {
    "adam": dict(epochs=5, lr=1e-2),
    "sgd_cosine_clip_weights": dict(epochs=5, lr=5e-2, optimizer="sgd", momentum=0.9, schedule="cosine",
                                    warmup_epochs=1, clip_grad_norm=1.0, class_weights="balanced",
                                    weight_decay=1e-4),
    # GenoNet's ingredients: the EMA weights and the augmentation draws must survive the interruption too.
    "adamw_cosine_ema_smoothing_augment": dict(epochs=5, lr=1e-2, optimizer="adamw", schedule="cosine",
                                               warmup_epochs=1, label_smoothing=0.1, ema_decay=0.9,
                                               shift_augment=2, rc_augment=0.5),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resume_after_crash_matches_uninterrupted(ds, tmp_path, name):
    cfg = TrainConfig(quiet=True, **CONFIGS[name])

    def train(run_dir, crash_at=None, resume=False):
        model = _model()

        def hook(epoch, record):
            if epoch == crash_at:
                raise Crash(epoch)

        return model, fit(model, ds["train"], ds["validation"], cfg, run_dir=run_dir, resume=resume,
                          on_epoch_end=hook)

    full_model, full = train(tmp_path / "full")
    with pytest.raises(Crash):
        train(tmp_path / "cut", crash_at=2)
    assert ckpt.latest_checkpoint(tmp_path / "cut").name == "epoch-0002"
    model, resumed = train(tmp_path / "cut", resume=True)
    assert resumed.resumed_from == 2 and resumed.epochs_run == cfg.epochs
    a, b = full_model.state_dict(), model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)
    assert full.best_epoch == resumed.best_epoch
    if "cosine" in name:  # the cosine schedule ran its course across the interruption
        lrs = [r["lr"] for r in resumed.history]
        assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-6
    # The per-epoch log on disk holds every epoch once.
    log = json.loads((tmp_path / "cut" / "epochs.json").read_text())
    assert [r["epoch"] for r in log] == list(range(1, cfg.epochs + 1))


def test_checkpoint_files_load_without_pickle(ds, tmp_path):
    model = _model()
    fit(model, ds["train"], ds["validation"], TrainConfig(epochs=2, quiet=True), run_dir=tmp_path)
    path = ckpt.latest_checkpoint(tmp_path)
    optim = ckpt.load_state(path / "optim")  # safetensors + JSON: no pickle at all
    rng = ckpt.load_state(path / "rng-rank0")
    assert "state" in optim["optimizer"] and isinstance(rng["torch"], torch.Tensor)
    assert not list(path.glob("*.pt"))
    weights = ckpt.load_weights(path / "best.safetensors")
    assert set(weights) == set(model.state_dict())  # BatchNorm buffers included
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["LATEST", "epoch-0002"]


def test_early_stopping_restores_best(ds, tmp_path):
    model = _model()
    # A min_delta no epoch can beat: epoch 1 stays the best, training stops after `patience` more epochs.
    cfg = TrainConfig(epochs=20, lr=1e-2, patience=2, min_delta=10.0, quiet=True)
    result = fit(model, ds["train"], ds["validation"], cfg, run_dir=tmp_path)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1
    best = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path) / "best.safetensors")
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())


def test_config_errors_are_user_errors(ds):
    with pytest.raises(UserError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(UserError, match="class_weights"):
        fit(_model(), ds["train"], ds["validation"], TrainConfig(epochs=1, class_weights=[1.0], quiet=True))
    data = prepare({"sequence": ["ACGT" * 10, "ACGT" * 10], "label": [0, 5]}, _model().encoding)
    with pytest.raises(UserError, match="labels must lie"):
        fit(_model(), data, data, TrainConfig(epochs=1, quiet=True))


def test_resume_after_sigkill_matches_uninterrupted(ds, tmp_path):
    from zoo.recipes import load_recipe, run

    data_dir = tmp_path / "tiny"
    ds.save_to_disk(str(data_dir))
    # One thread, as the in-process reference below (conftest): the default counts the CPUs other work leaves free,
    # which differ from run to run, and a second thread sums in another order.
    args = ["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(data_dir), "--seed", "0", "--quiet",
            "--threads", "1", "--epochs=5", "--lr=0.01", "--batch_size=16"]
    script = write_script(tmp_path)
    env = {**os.environ, "GZ_DIE_WRITING": "3", "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, str(script), *args, "--out", str(tmp_path / "cut")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = tmp_path / "cut" / "cnn_zeng_2_conv2d.tiny" / "seed0"
    assert ckpt.latest_checkpoint(run_dir).name == "epoch-0002"  # epoch 3's half-written checkpoint is ignored
    assert not (run_dir / "metrics.json").exists()
    env.pop("GZ_DIE_WRITING")
    resumed = subprocess.run([sys.executable, str(script), *args, "--out", str(tmp_path / "cut"), "--resume",
                              "--keep-checkpoint"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "best epoch" in resumed.stdout
    # The uninterrupted reference, in this process.
    recipe = load_recipe(None, ["--epochs=5", "--lr=0.01", "--batch_size=16", "--quiet=true"], arch="cnn_zeng_2_conv2d",
                         dataset=str(data_dir))
    reference = run(recipe, 0, tmp_path / "full")
    got = json.loads((run_dir / "metrics.json").read_text())
    for key in ("train_seconds",):
        got.pop(key), reference.pop(key)
    assert got == reference
    a = ckpt.load_weights(run_dir / "model.safetensors")
    b = ckpt.load_weights(tmp_path / "full" / "cnn_zeng_2_conv2d.tiny" / "seed0" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert json.loads((run_dir / "run.json").read_text())["resumed_from_epoch"] == 2
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["LATEST", "epoch-0005"]  # no leftover


def test_train_cli_rejects_unknown_key(tmp_path, capsys):
    from zoo.cli import main

    assert main(["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(tmp_path), "--epoch=3"]) == 2
    assert "unknown recipe key 'epoch'" in capsys.readouterr().err
    assert main(["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(tmp_path), "--lr"]) == 2  # no value
    assert "--key=value" in capsys.readouterr().err  # (`--lr 3` is read as --lr=3: test_engine_recipes)


def test_precise_bn_replaces_running_statistics_by_the_average_over_batches():
    import contextlib

    from torch import nn

    from zoo.engine import recalibrate_batchnorm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.01))
    xs = [torch.randn(16, 3) * 3 + 1 for _ in range(5)]
    used = recalibrate_batchnorm(model, [(x, None, None) for x in xs], torch.device("cpu"), contextlib.nullcontext, 4)
    assert used == 4 and model[1].momentum == 0.01  # the layer's own momentum is back for training
    with torch.no_grad():
        h = [model[0](x) for x in xs[:4]]
    mean = torch.stack([v.mean(0) for v in h]).mean(0)
    var = torch.stack([v.var(0) for v in h]).mean(0)  # BatchNorm records the unbiased variance of each batch
    torch.testing.assert_close(model[1].running_mean, mean)
    torch.testing.assert_close(model[1].running_var, var)
    # A model without BatchNorm is left alone.
    assert recalibrate_batchnorm(nn.Linear(3, 1), [(x, None, None) for x in xs], torch.device("cpu"),
                                 contextlib.nullcontext, 4) == 0


def test_fit_flushes_subnormals_while_it_runs_and_restores_the_default(ds):
    from zoo.engine import flush_denormals

    tiny = torch.tensor([1e-39])  # subnormal in float32
    with flush_denormals():
        if (tiny * 1.0).item() != 0.0:
            pytest.skip("this CPU cannot flush subnormals")
    assert (tiny * 1.0).item() != 0.0  # the default is back after the block
    seen = []
    fit(_model(), ds["train"], ds["validation"], TrainConfig(epochs=1, batch_size=32, quiet=True),
        on_epoch_end=lambda epoch, record: seen.append((tiny * 1.0).item()))
    assert seen == [0.0] and (tiny * 1.0).item() != 0.0


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_fit_keeps_freed_memory_while_it_runs_and_gives_it_back_after(ds):
    from zoo.engine import _glibc, keep_freed_memory

    if _glibc() is None:
        pytest.skip("keep_freed_memory tunes glibc's malloc only")
    import gc

    from zoo import runtime

    # A prediction stream an earlier test abandoned mid-way (its generator caught in an exception's reference
    # cycle) holds keep_freed_memory until the cycle collector closes it: close those first.
    gc.collect()
    assert runtime._kept == 0
    size = 256 << 20  # far past glibc's largest mmap threshold (32 MB)

    def grown() -> int:
        """Resident growth left behind by touching and freeing one large buffer."""
        before = _resident_bytes()
        torch.ones(size // 4)
        return _resident_bytes() - before

    assert grown() < size // 2  # by default the buffer is unmapped on free
    with keep_freed_memory():
        with keep_freed_memory():
            assert grown() > size // 2  # kept in the heap
        kept = _resident_bytes()
        assert grown() < size // 8  # reused, not faulted in again, after an inner block ended
    assert _resident_bytes() < kept - size // 2  # trimmed on exit
    assert grown() < size // 2  # and the default is back
    seen = []
    fit(_model(), ds["train"], ds["validation"], TrainConfig(epochs=1, batch_size=32, quiet=True),
        on_epoch_end=lambda epoch, record: seen.append(grown()))
    assert len(seen) == 1 and seen[0] > size // 2  # kept while fit ran
    assert grown() < size // 2


@pytest.mark.parametrize("given, expected", [(None, "1"), ("0", "0")])
def test_import_zoo_turns_on_huge_pages_for_torch_unless_the_user_chose(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given
    out = subprocess.run([sys.executable, "-c", "import os, zoo; print(os.environ['THP_MEM_ALLOC_ENABLE'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_fit_with_precise_bn_leaves_the_statistics_of_the_final_weights(ds):
    from zoo.encoding import encode_codes

    train = prepare(ds["train"], TinyCNN().encoding)
    n = len(train)  # one batch per epoch: the batch statistics are then the whole training set's
    model = _model(dropout=0.0)
    fit(model, ds["train"], ds["validation"], TrainConfig(epochs=2, batch_size=n, patience=None, precise_bn=5,
                                                          quiet=True))
    with torch.no_grad():
        h = model.conv(encode_codes(train.codes.numpy(), model.encoding).float())
    h = h.transpose(0, 1).reshape(h.shape[1], -1)
    # Without recalibration, two momentum-0.1 updates would leave the running mean near 0.19x the batch mean.
    torch.testing.assert_close(model.bn.running_mean, h.mean(1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.bn.running_var, h.var(1), rtol=1e-4, atol=1e-5)


def test_image_cnns_train_channels_last_and_end_contiguous(ds):
    from zoo.models.base import preferred_memory_format
    from zoo.registry import create_model

    seed_everything(0)
    model = create_model("cnn_zeng_2_conv2d", seq_len=40)
    assert preferred_memory_format(model, torch.device("cpu")) == torch.channels_last
    assert preferred_memory_format(_model(), torch.device("cpu")) == torch.contiguous_format
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]  # 16 -> 32 channels: unambiguous
    seen = []
    fit(model, ds["train"], ds["validation"], TrainConfig(epochs=1, batch_size=32, quiet=True),
        on_epoch_end=lambda epoch, record: seen.append(conv.weight.is_contiguous(memory_format=torch.channels_last)))
    assert seen == [True]
    assert all(p.is_contiguous() for p in model.parameters())
