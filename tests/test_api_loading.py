"""Loading a saved model folder through the Python API's other doors: ``TheClass.from_pretrained(folder)``,
``ZooModel.from_pretrained(folder)`` and ``create_model(arch, checkpoint_path=folder)`` build the folder's model as
saved (the geometry and label names of its config.json) or refuse in one sentence, never a random or differently
shaped model that looks loaded (hunt 19, findings 1 and 2). Real published weights, offline."""
from __future__ import annotations

import random
import shutil
import warnings

import numpy as np
import pytest
import torch

import zoo
from zoo import hub
from zoo.errors import UserError
from zoo.finetune import finetune
from zoo.models.base import ZooModel

BASE = "deepram_conv1d_onehot"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _class(arch: str) -> type:
    return type(zoo.create_model(arch))


def _seqs(n: int, length: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]


@pytest.fixture(scope="module")
def splice(tmp_path_factory):
    """The published deepram_conv1d_onehot.splice saved as a model folder (60 bp, EI/IE/N)."""
    folder = tmp_path_factory.mktemp("api") / "splice"
    return hub.save_model(zoo.create_model(f"{BASE}.splice", pretrained=True), folder)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A real fine-tune of deepram_conv1d_onehot.motif_ctcf (101 bp, negative/positive) at 80 bp for absent/present:
    the architecture's defaults (101 bp, labels '0'/'1') fit its weights, so nothing fails when they are used."""
    tmp = tmp_path_factory.mktemp("api-ft")
    rows = [f"{s},{('absent', 'present')[i % 2]}" for i, s in enumerate(_seqs(64, 80, seed=1))]
    (tmp / "my.csv").write_text("dna,y\n" + "\n".join(rows) + "\n")
    with warnings.catch_warnings():  # one epoch on 64 sequences learns nothing, as expected
        warnings.simplefilter("ignore")
        finetune(f"{BASE}.motif_ctcf", tmp / "my.csv", tmp / "ft", sequence_column="dna", label_column="y", epochs=1,
                 quiet=True)
    return tmp / "ft"


# ------------------------------------------------------------------------ TheClass.from_pretrained(folder)
@pytest.mark.parametrize("arch", ["genonet_small", "convformer_small", "cnn_zeng_2_conv2d", "cnn_nguyen_2_conv2d"])
def test_another_class_refuses_the_folder_instead_of_returning_a_random_model(splice, arch):
    cls = _class(arch)
    with pytest.raises(UserError, match=rf"holds a '{BASE}' model \(DeepRAM\), which {cls.__name__}"
                                        rf"\.from_pretrained does not build; load it with zoo\.hub\.load_model"):
        cls.from_pretrained(splice)


def test_zoomodel_from_pretrained_builds_the_folders_architecture(splice):
    seqs = _seqs(6, 60)
    model = ZooModel.from_pretrained(splice)
    assert type(model).__name__ == "DeepRAM" and model.arch == BASE and not model.training
    assert model.label_names == ["EI", "IE", "N"] and model.seq_len == 60
    expected = hub.load_model(splice).predict(seqs).probabilities
    np.testing.assert_array_equal(model.predict(seqs).probabilities, expected)
    again = _class(BASE).from_pretrained(splice, strict=True)  # its own class still loads it, strictly
    assert again.arch == BASE
    np.testing.assert_array_equal(again.predict(seqs).probabilities, expected)


def test_weights_without_a_config_are_refused_when_they_do_not_fit(splice, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(splice / "model.safetensors", bare / "model.safetensors")
    with pytest.raises(UserError, match="none of the tensors in .* belong to GenoNet: it holds another architecture"):
        _class("genonet_small").from_pretrained(bare)  # was: a random GenoNet
    with pytest.raises(UserError, match=r"do not fit ZengCNN as built: dense\.0\.weight is \(128, 128\) in the file"):
        _class("cnn_zeng_2_conv2d").from_pretrained(bare)  # was: torch's "size mismatch" RuntimeError
    with pytest.raises(UserError, match="has no config.json naming its architecture"):
        ZooModel.from_pretrained(bare)


def test_arguments_that_change_the_shapes_are_one_sentence(splice):
    with pytest.raises(UserError, match=r"do not fit DeepRAM as built: head\.weight is \(3, 128\) in the file but "
                                        r"\(1, 128\)"):
        _class(BASE).from_pretrained(splice, num_classes=2, label_names=["a", "b"])


def test_a_missing_folder_is_not_reported_as_a_network_problem(tmp_path):
    with pytest.raises(UserError, match="is neither a model folder nor a Hub repo id"):
        _class(BASE).from_pretrained(tmp_path / "no_such_dir")


def test_a_transformers_layout_folder_is_refused_not_loaded_half(tmp_path):
    folder = hub.save_model(zoo.create_model("bert_tiny_kmer3.motif_ctcf", pretrained=True), tmp_path / "bert")
    with pytest.raises(UserError, match=r"layout of the 'transformer' family.*zoo\.hub\.load_model"):
        _class("bert_tiny_kmer3").from_pretrained(folder)  # was: a BertBaseline with a random head
    loaded = zoo.create_model("bert_tiny_kmer3", checkpoint_path=folder, num_classes=2)
    x = _seqs(3, 101)
    np.testing.assert_array_equal(loaded.predict(x).probabilities, hub.load_model(folder).predict(x).probabilities)


# ---------------------------------------------------------------- create_model(arch, checkpoint_path=folder)
def test_create_model_with_a_folder_takes_its_geometry_and_labels(tuned):
    seqs = _seqs(8, 80, seed=2)
    expected = hub.load_model(tuned).predict(seqs).probabilities
    for path in (tuned, tuned / "model.safetensors", str(tuned)):
        model = zoo.create_model(BASE, checkpoint_path=path)
        assert model.seq_len == 80 and model.label_names == ["absent", "present"] and model.arch == BASE
        np.testing.assert_array_equal(model.predict(seqs).probabilities, expected)
    same = zoo.create_model(BASE, checkpoint_path=tuned, seq_len=80, num_classes=2,
                            label_names=("absent", "present"))  # arguments that agree are fine
    np.testing.assert_array_equal(same.predict(seqs).probabilities, expected)


@pytest.mark.parametrize("given, said", [
    (dict(seq_len=101), r"create_model got seq_len=101 but .*ft was saved with seq_len=80; leave it out"),
    (dict(label_names=["0", "1"]), r"label_names=\['0', '1'\] but .* saved with label_names=\['absent', 'present'\]"),
    (dict(num_classes=3), r"num_classes=3 but .* saved with num_classes=2"),
])
def test_create_model_refuses_arguments_that_contradict_the_folder(tuned, given, said):
    with pytest.raises(UserError, match=said):
        zoo.create_model(BASE, checkpoint_path=tuned, **given)


def test_create_model_refuses_a_folder_of_another_architecture(tuned):
    with pytest.raises(UserError, match=rf"holds a '{BASE}' model, not 'deepram_conv1d_embed'; load it as saved "
                                        r"with zoo\.hub\.load_model"):
        zoo.create_model("deepram_conv1d_embed", checkpoint_path=tuned)


def test_a_lone_weights_file_keeps_loading_into_the_arguments_given(tuned, tmp_path):
    lone = tmp_path / "weights.safetensors"
    shutil.copy(tuned / "model.safetensors", lone)
    model = zoo.create_model(BASE, checkpoint_path=lone, seq_len=80, label_names=["absent", "present"])
    reference = hub.load_model(tuned)
    x = zoo.encode(_seqs(4, 80), model.encoding)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference(x))
    with pytest.raises(UserError, match=r"do not fit .*: head\.weight has shape \(1, 128\) in the file"):
        zoo.create_model(BASE, checkpoint_path=lone, num_classes=3)
