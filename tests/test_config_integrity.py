"""A published model's config.json must say what its record in zoo/pretrained.json says: a copy of a bundled folder
(GENOZOO_HUB_DIR) or of a Hub repo whose config.json was edited (label_names swapped, num_classes, seq_len, a model
argument such as ``pool``, a transformers folder's ``genozoo`` block or ``id2label``) is refused by
``create_model(name, pretrained=True)``, ``genozoo verify`` and ``genozoo predict`` in one sentence naming the field,
the recorded and the found value (exit status 2, no traceback), as edited weights are; an unedited copy loads; a
user's own folder and a fine-tune of a published weight are not held to any record."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, constants

import zoo
from zoo import hub
from zoo.cli import main
from zoo.registry import pretrained_cfg

BINARY = "lstm_baseline.motif_ctcf"      # labels ["negative", "positive"], 101 bp
POOLED = "convformer_small.splice"       # a model argument `pool`
BERT = "bert_tiny_kmer3.motif_ctcf"      # transformers' layout: the `genozoo` block and id2label / label2id


def _swap(values):
    return list(reversed(values))


#: (published name, what is edited, the edit, the field the refusal names, recorded value, found value)
EDITS = [
    (BINARY, "label_names", lambda c: c.update(label_names=_swap(c["label_names"])),
     "label_names", '["negative", "positive"]', '["positive", "negative"]'),
    (BINARY, "num_classes", lambda c: c.update(num_classes=3), "num_classes", "2", "3"),
    (BINARY, "seq_len", lambda c: c.update(seq_len=200), "seq_len", "101", "200"),
    (BINARY, "a deleted argument", lambda c: c.pop("hidden"), "hidden", None, None),
    (POOLED, "pool", lambda c: c.update(pool=3), "pool", "2", "3"),
    (BERT, "genozoo.model_args.label_names",
     lambda c: c["genozoo"]["model_args"].update(label_names=_swap(c["genozoo"]["model_args"]["label_names"])),
     "genozoo.model_args.label_names", '["negative", "positive"]', '["positive", "negative"]'),
    (BERT, "id2label", lambda c: c.update(id2label={"0": "positive", "1": "negative"}),
     "id2label", '{"0": "negative", "1": "positive"}', '{"0": "positive", "1": "negative"}'),
    (BERT, "genozoo.model_args.num_layers",
     lambda c: c["genozoo"]["model_args"].update(num_layers=1), "genozoo.model_args.num_layers", "2", "1"),
]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 with an empty cache: nothing may be fetched."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))


def _published_folder(name: str) -> Path:
    cfg = pretrained_cfg(name)
    return hub.hub_dir() / hub.repo_id_for(cfg)


def _copy(monkeypatch, tmp_path, name: str, edit=None) -> Path:
    """A bundled hub in tmp_path (GENOZOO_HUB_DIR) holding a copy of ``name``'s folder, its config.json edited."""
    source = _published_folder(name)
    folder = tmp_path / "hub" / hub.repo_id_for(pretrained_cfg(name))
    shutil.copytree(source, folder)
    if edit is not None:
        config = json.loads((folder / "config.json").read_text())
        edit(config)
        (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "hub"))
    return folder


def _fasta(tmp_path) -> Path:
    path = tmp_path / "in.fa"
    path.write_text(">s1\n" + "ACGT" * 25 + "A\n")
    return path


def _one_sentence(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("genozoo") and ": error: " in err, err
    return err


@pytest.mark.parametrize("name, what, edit, field, recorded, found", EDITS, ids=[f"{e[0]}:{e[1]}" for e in EDITS])
def test_an_edited_config_of_a_published_model_is_refused(name, what, edit, field, recorded, found, monkeypatch,
                                                          tmp_path, offline, capsys):
    folder = _copy(monkeypatch, tmp_path, name, edit)
    where = str(folder / "config.json")
    if recorded is None:  # the argument is gone from config.json: the model would be built with its default
        says = f"{where} has no {field!r} but the published record of {name} has "
    else:
        says = f"{where} gives {field!r} = {found} but the published record of {name} has {recorded}"
    with pytest.raises(hub.IntegrityError) as caught:
        zoo.create_model(name, pretrained=True)
    assert str(caught.value).startswith(says), str(caught.value)
    assert "restore the bundled folder" in str(caught.value)
    assert main(["verify", name]) == 2
    assert says in _one_sentence(capsys)
    assert main(["predict", name, str(_fasta(tmp_path))]) == 2
    assert says in _one_sentence(capsys)
    with pytest.raises(hub.HubError):  # the folder itself, by path: refused too (by the record, or as unbuildable)
        hub.load_model(folder)


def test_an_edited_encoding_is_refused_by_every_door(monkeypatch, tmp_path, offline, capsys):
    folder = _copy(monkeypatch, tmp_path, BINARY, lambda c: c["encoding"].update(pad_mode="center"))
    with pytest.raises(hub.HubError, match="encoding"):
        zoo.create_model(BINARY, pretrained=True)
    for argv in (["verify", BINARY], ["predict", BINARY, str(_fasta(tmp_path))]):
        assert main(argv) == 2
        assert "encoding" in _one_sentence(capsys)
    with pytest.raises(hub.HubError, match="encoding"):
        hub.load_model(folder)


@pytest.mark.parametrize("name", [BINARY, POOLED, BERT])
def test_an_unedited_copy_still_loads_and_verifies(name, monkeypatch, tmp_path, offline, capsys):
    _copy(monkeypatch, tmp_path, name)
    model = zoo.create_model(name, pretrained=True)
    assert model.weights_source == "bundle" and model.pretrained_cfg.name == name
    assert main(["verify", name]) == 0
    assert main(["predict", name, str(_fasta(tmp_path)), "-q"]) == 0
    assert capsys.readouterr().out.count("s1") == 1


def test_a_swapped_label_order_loaded_by_path_names_the_field_and_allow_modified_drops_the_record(
        monkeypatch, tmp_path, offline, capsys):
    folder = _copy(monkeypatch, tmp_path, BINARY, lambda c: c.update(label_names=_swap(c["label_names"])))
    with pytest.raises(hub.IntegrityError, match=r"gives 'label_names' = \[\"positive\", \"negative\"\] but the "
                                                 r"published record of lstm_baseline.motif_ctcf has "
                                                 r"\[\"negative\", \"positive\"\].*pass --allow-modified"):
        hub.load_model(folder)
    assert main(["predict", str(folder), str(_fasta(tmp_path))]) == 2
    assert "'label_names'" in _one_sentence(capsys)
    with pytest.warns(UserWarning, match="loading it anyway"):
        model = hub.load_model(folder, allow_modified=True)
    assert list(model.label_names) == ["positive", "negative"] and getattr(model, "pretrained_cfg", None) is None


def test_a_users_own_folder_and_a_fine_tune_of_a_published_model_are_not_held_to_a_record(monkeypatch, tmp_path,
                                                                                        offline):
    own = zoo.create_model("lstm_baseline", num_classes=2, seq_len=101, label_names=["no", "yes"])
    folder = hub.save_model(own, tmp_path / "own")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "label_names": ["yes", "no"]}))
    assert list(hub.load_model(folder).label_names) == ["yes", "no"]  # the user's own file says what it means

    _copy(monkeypatch, tmp_path, BINARY)
    tuned = zoo.create_model(BINARY, pretrained=True)
    with torch.no_grad():
        next(tuned.parameters()).add_(0.01)
    folder = hub.save_model(tuned, tmp_path / "tuned")
    config = json.loads((folder / "config.json").read_text())
    assert config["name"] is None and config["base_model"] == hub.repo_id_for(pretrained_cfg(BINARY))
    (folder / "config.json").write_text(json.dumps({**config, "label_names": ["bound", "unbound"]}))
    assert list(hub.load_model(folder).label_names) == ["bound", "unbound"]


def test_published_weights_saved_with_other_arguments_are_saved_as_a_new_weight(monkeypatch, tmp_path, offline):
    """create_model(name, pretrained=True, label_names=...) holds the published weights but names its outputs
    otherwise: saved, it names the published weight as its base instead of claiming its record (which loading would
    then refuse)."""
    _copy(monkeypatch, tmp_path, BINARY)
    model = zoo.create_model(BINARY, pretrained=True, label_names=["unbound", "bound"])
    folder = hub.save_model(model, tmp_path / "renamed")
    config = json.loads((folder / "config.json").read_text())
    assert config["name"] is None and config["base_model"] == hub.repo_id_for(pretrained_cfg(BINARY))
    assert list(hub.load_model(folder).label_names) == ["unbound", "bound"]
    same = hub.save_model(zoo.create_model(BINARY, pretrained=True), tmp_path / "same")
    assert json.loads((same / "config.json").read_text())["name"] == BINARY  # unchanged: still the published one
    assert hub.load_model(same).pretrained_cfg.name == BINARY


def _upload(folder: Path, repo_id: str) -> None:
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folder)


def test_an_edited_config_in_a_hub_repo_is_refused_and_dropped_from_the_cache(hub_server, monkeypatch, tmp_path):
    cfg = pretrained_cfg(BINARY)
    edited = tmp_path / "edited"
    shutil.copytree(_published_folder(BINARY), edited)
    config = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**config, "label_names": _swap(config["label_names"])}))
    _upload(edited, hub.repo_id_for(cfg))
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "no-bundle"))
    with pytest.raises(hub.IntegrityError, match=r"gives 'label_names' = \[\"positive\", \"negative\"\] .* it was "
                                                 r"removed from the cache"):
        zoo.create_model(BINARY, pretrained=True)
    cached = list(Path(constants.HF_HUB_CACHE).rglob("config.json"))
    assert cached == []


def test_a_downloaded_copy_edited_in_the_cache_is_refused_then_fetched_again(hub_server, monkeypatch, tmp_path,
                                                                            capsys):
    cfg = pretrained_cfg(BINARY)
    _upload(_published_folder(BINARY), hub.repo_id_for(cfg))
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "no-bundle"))
    assert zoo.create_model(BINARY, pretrained=True).weights_source == "hub"
    (cached,) = Path(constants.HF_HUB_CACHE).rglob("snapshots/*/config.json")
    config = json.loads(cached.read_text())
    blob = cached.resolve()
    blob.chmod(0o644)
    blob.write_text(json.dumps({**config, "seq_len": 60}))
    capsys.readouterr()  # the download's progress bars
    assert main(["predict", BINARY, str(_fasta(tmp_path))]) == 2
    err = _one_sentence(capsys)
    assert "gives 'seq_len' = 60 but the published record of lstm_baseline.motif_ctcf has 101" in err
    assert zoo.create_model(BINARY, pretrained=True).pretrained_cfg.name == BINARY  # fetched again, intact


def test_an_edited_published_folder_is_not_pushed(hub_server, monkeypatch, tmp_path, capsys):
    folder = _copy(monkeypatch, tmp_path, BINARY, lambda c: c.update(label_names=_swap(c["label_names"])))
    assert main(["push", str(folder), "--repo", "tester/edited"]) == 2
    assert "gives 'label_names' = [\"positive\", \"negative\"]" in _one_sentence(capsys)
    assert ("model", "tester/edited") not in hub_server.repos
