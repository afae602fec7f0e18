"""Fine-tuning: a new label set and a new length; what is transferred and what starts fresh; the held-out
validation split; beating training from scratch on the same small budget; a Hub-ready folder whose card names the
base model, the data and the metrics."""
from __future__ import annotations

import json

import pytest
import torch

import zoo
from zoo import hub
from zoo.data import planted_motif_benchmark
from zoo.engine import TrainConfig, evaluate, fit, seed_everything
from zoo.errors import UserError
from zoo.finetune import adapt_model, finetune, load_data

from use_models import SPECS, run_cli, trained

BUDGET = dict(epochs=5, lr=3e-3, batch_size=32)


@pytest.fixture(scope="session")
def kmer(tmp_path_factory):
    return trained("kmer", tmp_path_factory.mktemp("use-models"))


def test_adapt_model_rebuilds_length_dependent_layers():
    # cnn_nguyen_2_conv2d flattens its feature map: its first dense layer depends on the sequence length.
    torch.manual_seed(0)
    base = zoo.create_model("cnn_nguyen_2_conv2d", num_classes=3, seq_len=60, label_names=["a", "b", "c"])
    base.arch = "cnn_nguyen_2_conv2d"
    model, transferred, fresh = adapt_model(base, label_names=["x", "y"], seq_len=80)
    assert sorted(fresh) == ["dense.0.weight", "head.bias", "head.weight"]  # dense.0.bias still fits
    assert model.seq_len == 80 and model.label_names == ["x", "y"] and model.num_outputs == 1
    assert torch.equal(model.features[0].weight, base.features[0].weight)
    same, _, kept_fresh = adapt_model(base, label_names=["a", "b", "c"], seq_len=60)
    assert kept_fresh == [] and torch.equal(same.head.weight, base.head.weight)  # same labels: head kept

    from zoo.finetune import _freeze

    _freeze(model, fresh)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n in fresh or n.startswith("head.")}
    assert "dense.0.weight" in trainable and "features.0.weight" not in trainable


def test_finetune_beats_training_from_scratch_and_card_names_the_base(kmer, tmp_path):
    """Base: CTCF present/absent at 60 bp. New task: which motif (none / CTCF / SP1) at 80 bp, 240 training
    sequences and 5 epochs. Measured: fine-tuned test accuracy 0.72-0.76, from scratch 0.35-0.50 (3 seeds)."""
    target = planted_motif_benchmark(1500, 80, ["CTCF", "SP1"], include_none=True, seed=10,
                                     splits=(0.16, 0.12, 0.72))
    target.save_to_disk(str(tmp_path / "data"))
    out = run_cli("finetune", kmer.folder, "--data", tmp_path / "data", "-o", tmp_path / "ft", "--epochs", "5",
                  "--lr", "0.003", "--batch-size", "32", "-q")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    ft_acc = metrics["test"]["accuracy"]

    arch, kwargs, _ = SPECS["kmer"]
    seed_everything(0)
    scratch = zoo.create_model(arch, num_classes=3, seq_len=80, label_names=["none", "CTCF", "SP1"], **kwargs)
    fit(scratch, target["train"], target["validation"], TrainConfig(**BUDGET, quiet=True))
    scratch_acc = evaluate(scratch, target["test"]).metrics["accuracy"]
    assert ft_acc > scratch_acc + 0.1, (ft_acc, scratch_acc)

    # The folder is Hub-ready: weights, config.json and a card naming the base model, the data and the metrics.
    folder = tmp_path / "ft"
    assert {"model.safetensors", "config.json", "README.md", "metrics.json", "epochs.json"} <= \
        {p.name for p in folder.iterdir()}
    config = json.loads((folder / "config.json").read_text())
    # The base is a weight of this session's own, not a published one: no Hub repo is claimed for it (it was
    # genozoo/<its name>, which does not exist); the card names its folder.
    assert config["base_model"] is None and config["seq_len"] == 80
    assert config["label_names"] == ["none", "CTCF", "SP1"] and config["dataset"] == "data"
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model is None
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["accuracy"] == pytest.approx(ft_acc, abs=1e-6)
    assert "genozoo finetune" in card.text and f"Fine-tuned from {kmer.folder}:" in card.text
    # It loads back and predicts the new classes at the new length.
    model = hub.load_model(folder)
    assert model.predict(target["test"]["sequence"][:5]).label_names == ["none", "CTCF", "SP1"]
    assert evaluate(model, target["test"]).metrics["accuracy"] == pytest.approx(ft_acc, abs=1e-9)
    assert "fine-tuned from" in out.stderr and out.stdout.splitlines()[1].startswith("test: loss")


def test_finetune_on_a_csv_file_holds_out_validation(kmer, tmp_path):
    s = planted_motif_benchmark(300, 60, ["CTCF"], seed=4)["train"]
    path = tmp_path / "mine.csv"
    with open(path, "w") as fh:
        fh.write("dna,cls\n" + "".join(f"{q},{'bound' if y else 'unbound'}\n"
                                       for q, y in zip(s["sequence"], s["label"])))
    ds, name, split = load_data(path, label_column="cls", sequence_column="dna")
    assert name == "mine.csv" and "70/15/15" in split
    assert set(ds) == {"train", "validation", "test"} and ds["train"].features["label"].names == ["bound", "unbound"]
    n = sum(len(ds[k]) for k in ds)
    assert n == len(s) and not set(ds["train"]["sequence"]) & set(ds["validation"]["sequence"])
    result = finetune(kmer.model, path, tmp_path / "out", label_column="cls", sequence_column="dna", epochs=1,
                      freeze_trunk=True, quiet=True, base_model_id="someone/base-model")
    assert result.label_names == ["bound", "unbound"] and result.seq_len == 60
    assert set(result.reinitialized) == {"head.weight", "head.bias"}  # new label names: a new head
    assert json.loads((tmp_path / "out" / "config.json").read_text())["base_model"] == "someone/base-model"
    # The card names the data by its file name (no invented Hub dataset id), and `genozoo card` re-renders it
    # without losing its results, datasets or base model (from record.json, else from the card it replaces).
    from huggingface_hub import ModelCard

    from zoo.cli import main

    card = ModelCard.load(tmp_path / "out" / "README.md").data.to_dict()
    assert "datasets" not in card and card["base_model"] == "someone/base-model"
    (ds0,) = {json.dumps(r["dataset"], sort_keys=True) for r in card["model-index"][0]["results"]}
    assert json.loads(ds0) == {"name": "mine.csv", "type": "mine.csv", "split": "test"}
    assert "mine.csv" in (tmp_path / "out" / "README.md").read_text().split("## Training")[1]
    for drop_record in (False, True):
        if drop_record:  # a folder saved before record.json existed: its card is the only copy of its results
            (tmp_path / "out" / "record.json").unlink()
        assert main(["card", str(tmp_path / "out")]) == 0
        again = ModelCard.load(tmp_path / "out" / "README.md").data.to_dict()
        assert again["model-index"] == card["model-index"] and again["base_model"] == "someone/base-model"
    # Frozen trunk: only the head moved.
    assert torch.equal(result.model.convs[0].weight, kmer.model.convs[0].weight)
    # A DatasetDict without validation gets one carved from train.
    dd = planted_motif_benchmark(200, 60, ["CTCF"], seed=5)
    del dd["validation"]
    ds2, _, split2 = load_data(dd)
    assert "validation" in ds2 and "carved from train" in split2
    assert len(ds2["train"]) + len(ds2["validation"]) == len(dd["train"])


def test_finetune_errors(kmer, tmp_path):
    dd = planted_motif_benchmark(100, 60, ["CTCF"], seed=6)
    with pytest.raises(UserError, match="does not match the data, which has 2 classes"):
        finetune(kmer.model, dd, num_classes=3, epochs=1, quiet=True)
    path = tmp_path / "x.csv"
    path.write_text("sequence,label\n" + "ACGT" * 15 + ",a\n")
    with pytest.raises(UserError, match="no column 'kind'"):
        load_data(path, label_column="kind")
    with pytest.raises(UserError, match="is not a saved dataset"):
        load_data(tmp_path)


def test_a_folder_names_a_hub_base_only_for_a_published_weight(tmp_path, kmer):
    from zoo.finetune import _base_record

    published = zoo.create_model("genonet_small.splice", pretrained=True)
    hub.save_model(published, tmp_path / "copy", published.pretrained_cfg)
    copy = hub.load_model(tmp_path / "copy")
    copy.pretrained_cfg = None  # as a folder loads when its record is not consulted: only its config.json speaks
    assert _base_record(copy, str(tmp_path / "copy"), None).hub_id == "genozoo/genonet_small.splice"
    assert _base_record(kmer.model, str(kmer.folder), None) is None  # a weight of one's own: no repo to claim
