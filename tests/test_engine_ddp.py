"""A real 2-process CPU DistributedDataParallel run (torchrun, gloo) of `genozoo train`: it completes, every test
row is scored exactly once, and its metrics equal those computed in one process from its saved checkpoint."""
import json
import os
import subprocess
import sys

import pytest
import torch

from engine_tiny import tiny_benchmark, write_script
from zoo import checkpoint as ckpt
from zoo.metrics import compute_metrics
from zoo.recipes import evaluate_model, load_run_model


@pytest.mark.slow
def test_torchrun_two_processes_match_single_process_metrics(tmp_path):
    ds = tiny_benchmark(n=301, length=40)  # odd sizes: shards differ in length and the sampler pads
    data_dir = tmp_path / "tiny"
    ds.save_to_disk(str(data_dir))
    script = write_script(tmp_path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           "train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(data_dir), "--seed", "0",
           "--out", str(tmp_path / "out"), "--quiet", "--epochs=3", "--lr=0.01", "--batch_size=16"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    run_dir = tmp_path / "out" / "cnn_zeng_2_conv2d.tiny" / "seed0"
    assert json.loads((run_dir / "run.json").read_text())["world_size"] == 2
    assert proc.stdout.count("best epoch") == 1  # only rank 0 reports
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3
    log = json.loads((run_dir / "epochs.json").read_text())
    assert [r["epoch"] for r in log] == [1, 2, 3]

    # Gathered predictions: one row per test example, in the split's order.
    preds = ckpt.load_weights(run_dir / "predictions_test.safetensors")
    assert preds["labels"].tolist() == list(ds["test"]["label"])
    # The metrics written by the 2-process run equal the metrics of those predictions...
    again = compute_metrics(preds["labels"], preds["probs"])
    for k, v in again.items():
        assert metrics["test"][k] == pytest.approx(v, abs=1e-7), k
    # ... and one process scoring the saved best checkpoint gets the same predictions and metrics.
    model, _ = load_run_model(run_dir)
    single = evaluate_model(str(run_dir), str(data_dir), "test", device="cpu")
    for k in ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc", "auprc"):
        assert metrics["test"][k] == pytest.approx(single[k], abs=1e-6), k
    assert metrics["test"]["loss"] == pytest.approx(single["loss"], abs=1e-5)
    with torch.no_grad():
        from zoo.encoding import encode

        probs = model.predict_encoded(encode(list(ds["test"]["sequence"]), model.encoding))
    torch.testing.assert_close(probs, preds["probs"], atol=1e-5, rtol=0)
