"""Edges of the Python API a new user meets first (hunt 19, findings 5, 7, 13, 14 and 16): saving a model where it
cannot go, arguments ``create_model`` cannot build with, a published name built without its weights, the advice for
an altered bundled file, a ``GENOZOO_HUB_DIR`` that does not exist, a dict as the training configuration, a model
saved over another one's folder and a fine-tune scored on a handful of sequences. Each is one sentence (a genozoo
error or warning), never a raw ``TypeError`` / ``OSError`` or a silently wrong result."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

import zoo
from zoo import hub
from zoo.data import planted_motif_benchmark
from zoo.errors import EnvironmentFailure, UserError, write_error
from zoo.registry import RandomWeightsWarning, UnknownModelError, create_model_from_args

ARCH = "cnn_zeng_2_conv2d"
PUBLISHED = "cnn_nguyen_2_conv2d.splice"


def _model(seed: int = 0, **kwargs):
    import torch

    torch.manual_seed(seed)
    return zoo.create_model(ARCH, num_classes=2, seq_len=60, **kwargs)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------ 5: unwritable folders
def test_saving_into_a_file_or_through_one_is_one_sentence_and_leaves_nothing(tmp_path):
    model = _model()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UserError, match=r"cannot write the model folder '.*afile': it exists and is not a folder"):
        hub.save_model(model, afile)
    with pytest.raises(UserError, match=r"cannot write '.*afile/sub': it goes through something that is not a "
                                        r"folder"):
        hub.save_model(model, afile / "sub")
    assert afile.read_text() == "x" and _leftovers(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_saving_under_proc_names_the_folder_not_a_hidden_temporary_one():
    with pytest.raises(EnvironmentFailure) as info:
        hub.save_model(_model(), "/proc/genozoo-test-model")
    assert str(info.value).startswith("cannot write '/proc/genozoo-test-model': no file can be created in '/proc'")
    assert ".tmp" not in str(info.value)


def test_missing_folders_are_created_and_removed_again_when_the_save_fails(tmp_path):
    deep = tmp_path / "a" / "b" / "model"
    assert (hub.save_model(_model(), deep, card=False) / "model.safetensors").is_file()
    model = _model()
    model.arch = ""  # config.json cannot name it: the save fails after the folders would have been made
    with pytest.raises(hub.ContractMismatchError):
        hub.save_model(model, tmp_path / "c" / "d" / "model")
    assert not (tmp_path / "c").exists()


def test_write_error_is_a_genozoo_error_naming_the_path():
    import errno

    err = write_error(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/.y.1.tmp"), "/x/y")
    assert isinstance(err, UserError) and str(err).startswith("cannot write '/x/y': it goes through")
    err = write_error(PermissionError(errno.EACCES, "Permission denied", "/x/y"), "/x/y")
    assert isinstance(err, EnvironmentFailure) and str(err) == ("cannot write '/x/y': permission denied; check the "
                                                                "file's and folder's permissions")


# ------------------------------------------------------------------- 16(c): one model per folder
def test_saving_another_model_over_a_folder_removes_the_old_models_files(tmp_path):
    folder = tmp_path / "ft"
    first = _model(seed=0)
    record = zoo.registry.PretrainedCfg(arch=ARCH, tag="ft", num_classes=2, seq_len=60, label_names=("0", "1"),
                                        encoding=first.encoding.to_dict())
    hub.save_model(first, folder, record, keep_record=True)
    for name in ("metrics.json", "epochs.json"):  # what finetune writes beside the weights
        (folder / name).write_text("{}")
    (folder / "notes.txt").write_text("mine")
    hub.save_model(first, folder, record, keep_record=True)  # the same weights again (publish saves twice)
    assert (folder / "metrics.json").is_file() and (folder / "epochs.json").is_file()

    hub.save_model(_model(seed=1), folder)
    left = sorted(p.name for p in folder.iterdir())
    assert left == ["README.md", "config.json", "model.safetensors", "notes.txt"], left
    assert hub.load_model(folder).state_dict()["head.weight"].equal(_model(seed=1).state_dict()["head.weight"])


# ------------------------------------------------------------------------ 7: create_model arguments
@pytest.mark.parametrize("name, kwargs, says", [
    (PUBLISHED, dict(pretrained=True, dropout_rate=0.3),
     "got an unexpected keyword argument 'dropout_rate'; did you mean 'dropout'?"),
    (ARCH, dict(num_classes="3", seq_len=100), "num_classes must be a whole number"),
    (ARCH, dict(num_classes=2.5, seq_len=100), "num_classes must be a whole number"),
    (ARCH, dict(seq_len=100.0), "seq_len must be a whole number"),
    (PUBLISHED, dict(pretrained="no"), "got pretrained='no'; pass True"),
    (ARCH, dict(pretrained=1), "got pretrained=1; pass True"),
    (None, {}, "unknown model None: a model name is a string"),
])
def test_create_model_refuses_arguments_it_cannot_build_with_in_one_sentence(name, kwargs, says):
    with pytest.raises(UserError) as info:
        zoo.create_model(name, **kwargs)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_unknown_arguments_name_what_the_architecture_takes():
    with pytest.raises(UserError, match=r"takes num_classes, seq_len, label_names, .*dropout"):
        zoo.create_model(ARCH, bogus=1)
    with pytest.raises(UserError, match=r"^the recipe's model_args do not build 'cnn_zeng_2_conv2d': got an "
                                        r"unexpected keyword argument 'nope'"):
        create_model_from_args(ARCH, "the recipe's model_args", nope=3)
    import numpy as np

    assert zoo.create_model(ARCH, num_classes=np.int64(3), seq_len=60).num_classes == 3  # numpy ints are ints


def test_list_models_refuses_a_pattern_that_is_not_a_string():
    with pytest.raises(UserError, match="the pattern must be a string"):
        zoo.list_models(None)
    assert zoo.list_models(["cnn_zeng_2*"]) == ["cnn_zeng_2_conv2d"]


# -------------------------------------------------------------------- 14: an architecture for a tag
def test_pretrained_cfg_of_an_architecture_names_its_tags_not_itself():
    with pytest.raises(UnknownModelError) as info:
        zoo.pretrained_cfg("cnn_nguyen_2_conv2d")
    assert str(info.value) == ("'cnn_nguyen_2_conv2d' is an architecture, not a published weight; name its published "
                               "weight 'cnn_nguyen_2_conv2d.splice'")
    several = sorted(zoo.list_models("genonet_small.*", pretrained=True))
    with pytest.raises(UnknownModelError, match=f"name one of {', '.join(several)}$"):
        zoo.pretrained_cfg("genonet_small")
    with pytest.raises(UnknownModelError) as info:
        zoo.pretrained_cfg("cnn_nguyen_2_conv2dx")
    assert "did you mean 'cnn_nguyen_2_conv2d'" in str(info.value)  # a typo still gets its suggestions


# --------------------------------------------------------------- 16(e): a published name, random weights
def test_a_published_name_built_without_its_weights_warns_once():
    with pytest.warns(RandomWeightsWarning) as caught:
        model = zoo.create_model(PUBLISHED)
    assert len(caught) == 1 and str(caught[0].message) == (
        f"{PUBLISHED} has published weights but was built with random ones; pass pretrained=True to load them")
    assert caught[0].filename == __file__  # points at the caller's line
    assert model.label_names == list(zoo.pretrained_cfg(PUBLISHED).label_names)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)
        zoo.create_model(PUBLISHED, pretrained=True)
        zoo.create_model("cnn_nguyen_2_conv2d", num_classes=2, seq_len=60)
        create_model_from_args(PUBLISHED, "the options")  # genozoo info arch.tag: the geometry, on purpose


# ----------------------------------------------------- 13: advice for an altered bundled file, GENOZOO_HUB_DIR
def _bundle_copy(tmp_path: Path, monkeypatch) -> Path:
    cfg = zoo.pretrained_cfg(PUBLISHED)
    source = hub.hub_dir() / hub.repo_id_for(cfg)
    target = tmp_path / "myhub" / hub.repo_id_for(cfg)
    shutil.copytree(source, target)
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "myhub"))
    return target


def test_an_altered_file_in_genozoo_hub_dir_is_not_told_to_git_checkout(tmp_path, monkeypatch):
    folder = _bundle_copy(tmp_path, monkeypatch)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError) as info:
        zoo.create_model(PUBLISHED, pretrained=True)
    assert "git checkout" not in str(info.value)
    assert f"restore the bundled file in GENOZOO_HUB_DIR ({tmp_path / 'myhub'})" in str(info.value)


def test_an_altered_config_in_genozoo_hub_dir_is_not_told_to_git_checkout(tmp_path, monkeypatch):
    folder = _bundle_copy(tmp_path, monkeypatch)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "label_names": config["label_names"][::-1]}))
    with pytest.raises(hub.IntegrityError) as info:
        zoo.create_model(PUBLISHED, pretrained=True)
    assert "git checkout" not in str(info.value) and "GENOZOO_HUB_DIR" in str(info.value)


def test_the_bundle_advice_fits_where_the_bundle_is(monkeypatch):
    from zoo.hub.resolve import _bundle_fix
    from zoo.resources import BUNDLE_DIR

    monkeypatch.delenv("GENOZOO_HUB_DIR", raising=False)
    installed = hub.hub_dir().resolve().is_relative_to(BUNDLE_DIR.resolve())
    advice = _bundle_fix("file")
    assert ("pip install --force-reinstall" in advice) == installed and ("git checkout" in advice) == (not installed)


def test_a_genozoo_hub_dir_that_does_not_exist_is_said_once(tmp_path, monkeypatch):
    missing = tmp_path / "does-not-exist"
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(missing))
    with pytest.warns(UserWarning, match=f"GENOZOO_HUB_DIR='{missing}' does not exist, so no bundled weights are "
                                         f"used") as caught:
        for _ in range(2):
            try:
                zoo.create_model(PUBLISHED, pretrained=True)
            except hub.HubError:  # offline with nothing cached: the Hub is the only source left
                pass
    assert len([w for w in caught if "GENOZOO_HUB_DIR" in str(w.message)]) == 1


# ------------------------------------------------------------------------- 16(a): fit with a dict
@pytest.fixture(scope="module")
def tiny():
    return planted_motif_benchmark(60, 60, ["CTCF"], seed=3, splits=(0.5, 0.25, 0.25))


def test_fit_takes_a_dict_of_train_config_fields_and_refuses_unknown_keys(tiny):
    from zoo.engine import fit

    model = _model()
    result = fit(model, tiny["train"], tiny["validation"], {"epochs": 1, "quiet": True})
    assert len(result.history) == 1
    with pytest.raises(UserError, match=r"unknown key 'epoch'; did you mean 'epochs'\?"):
        fit(model, tiny["train"], tiny["validation"], {"epoch": 1})
    with pytest.raises(UserError, match="must be a zoo.engine.TrainConfig or a dict of its fields"):
        fit(model, tiny["train"], tiny["validation"], 5)


# ----------------------------------------------------------------- 16(d): a fine-tune on five sequences
def test_finetune_on_a_handful_of_sequences_warns_and_says_so_in_the_card(tmp_path):
    from zoo.finetune import FEW_SEQUENCES, SmallSplit, finetune

    ds = planted_motif_benchmark(10, 60, ["CTCF"], seed=1, splits=(0.6, 0.2, 0.2))
    with pytest.warns(SmallSplit) as caught:
        result = finetune(ARCH, ds, tmp_path / "ft", from_scratch=True, epochs=1)
    (warned,) = [w for w in caught if w.category is SmallSplit]
    message = str(warned.message)
    assert message == (f"the validation split holds only 2 sequences and the test split only 2 sequences; with "
                       f"fewer than {FEW_SEQUENCES} sequences a split's scores (the best epoch, the reported "
                       f"metrics) are too noisy to trust, so give more data")
    assert result.small_splits == message
    assert message in (tmp_path / "ft" / "README.md").read_text()
    assert message in json.loads((tmp_path / "ft" / "record.json").read_text())["notes"]
    with pytest.warns(SmallSplit):  # quiet silences progress, not what the numbers are worth
        again = finetune(ARCH, ds, tmp_path / "quiet", from_scratch=True, epochs=1, quiet=True)
    assert again.small_splits == message and message in (tmp_path / "quiet" / "README.md").read_text()
    big = planted_motif_benchmark(100, 60, ["CTCF"], seed=1, splits=(0.6, 0.2, 0.2))
    assert finetune(ARCH, big, from_scratch=True, epochs=1, quiet=True).small_splits is None
