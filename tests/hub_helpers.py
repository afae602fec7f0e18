"""A small real model for the hub tests: cnn_zeng_2_conv2d trained a few steps on a synthetic planted-motif
benchmark (3 classes, 60 nt, like splice), with a published record registered for it."""
from __future__ import annotations

import torch

import zoo
from zoo.data import planted_motif_benchmark
from zoo import registry
from zoo.registry import PretrainedCfg, create_model

ARCH, TAG = "cnn_zeng_2_conv2d", "hubtest"
NAME = f"{ARCH}.{TAG}"
LABELS = ("CTCF", "GATA1", "SP1")


def benchmark():
    return planted_motif_benchmark(n=240, length=60, motifs=LABELS, num_classes=3, seed=0)


def train_model(steps: int = 30, seed: int = 0):
    """Train a few Adam steps; returns ``(model, test_metrics)`` with metrics on the test split."""
    data = benchmark()
    torch.manual_seed(seed)
    model = create_model(ARCH, num_classes=3, seq_len=60, label_names=list(LABELS))
    enc = model.encoding
    x, y = zoo.encode(data["train"]["sequence"], enc), torch.tensor(data["train"]["label"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (32,), generator=g)
        loss = model.loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt = zoo.encode(data["test"]["sequence"], enc), torch.tensor(data["test"]["label"])
    acc = float((model.predict_encoded(xt).argmax(1) == yt).float().mean())
    return model, {"accuracy": acc}


def register(monkeypatch, model, metrics: dict, **changes) -> PretrainedCfg:
    """Register the published record of the test weight for one test (monkeypatch removes it afterwards, so
    suites that check every published record never see it)."""
    fields = dict(
        arch=ARCH, tag=TAG, num_classes=3, seq_len=60, label_names=LABELS, encoding=model.encoding.to_dict(),
        dataset="planted_motif_3", split="stratified-70-15-15", data_revision="synthetic-seed0",
        metrics={"accuracy": {"mean": metrics["accuracy"], "sd": 0.012, "seed_value": metrics["accuracy"]},
                 "auroc": {"mean": 0.71, "sd": 0.02, "seed_value": 0.72}},
        paper_metrics={"accuracy": 0.640, "auroc": 0.798}, seeds=(0, 1, 2), seed=0,
        recipe="genozoo train train/recipes/cnn_zeng_2_conv2d.hubtest.yaml --seed 0",
        num_params=model.num_parameters())
    fields.update(changes)
    cfg = PretrainedCfg(**fields)
    registry.list_models(pretrained=True)  # loads zoo/pretrained.json before the record is added
    monkeypatch.setitem(registry._pretrained, cfg.name, cfg)  # register_pretrained, undone after the test
    return cfg


def probe_inputs(model) -> torch.Tensor:
    seqs = planted_motif_benchmark(n=40, length=60, motifs=LABELS, num_classes=3, seed=7)["test"]["sequence"]
    return zoo.encode(seqs, model.encoding)
