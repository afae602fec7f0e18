"""zoo.hub and zoo.cards without a network: model folders, bundled and explicit weights (offline), fine-tuning
loads, every refusal (tampered, truncated, unknown architecture, contract mismatch), cards, and a grep for
unsafe deserialization."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants

import zoo
from zoo import hub
from zoo.cards import ARCH_PAPERS, arch_paper, render_model_card
from zoo.cli import main
from zoo.registry import create_model, list_models, model_family

from hub_helpers import ARCH, LABELS, NAME, probe_inputs, register, train_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained():
    return train_model()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 with an empty cache: nothing may be fetched."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))


@pytest.fixture
def bundle(monkeypatch, tmp_path, trained):
    """A bundled hub folder (GENOZOO_HUB_DIR) holding the trained test weight, and its record."""
    model, metrics = trained
    cfg = register(monkeypatch, model, metrics)
    folder = hub.save_model(model, tmp_path / "hub" / hub.repo_id_for(cfg), cfg)
    cfg = register(monkeypatch, model, metrics, sha256=hub.sha256_file(folder / hub.WEIGHTS_NAME))
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "hub"))
    return cfg, folder


def test_save_writes_hub_layout_and_full_contract(bundle, trained):
    cfg, folder = bundle
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    model = trained[0]
    assert config["arch"] == ARCH and config["name"] == NAME and config["family"] == "paper_cnn"
    assert config["encoding"] == model.encoding.to_dict() == {
        "kind": "kmer_image", "length": 60, "k": 3, "region": 0, "pad_mode": "right", "n_value": 0.0,
        "ambiguity": "N"}
    assert config["label_names"] == list(LABELS) and config["num_classes"] == 3 and config["seq_len"] == 60
    assert (config["dataset"], config["split"], config["data_revision"]) == (
        "planted_motif_3", "stratified-70-15-15", "synthetic-seed0")
    assert not list(folder.parent.glob(".*tmp"))  # the temporary folder is gone
    # The folder stays loadable by huggingface_hub's mixin alone (constructor arguments in config.json).
    again = type(model).from_pretrained(folder, strict=True)
    x = probe_inputs(model)
    assert torch.equal(again(x), model(x))


def test_bundled_load_offline_gives_identical_predictions(bundle, trained, offline):
    model = trained[0]
    loaded = zoo.create_model(NAME, pretrained=True)
    assert loaded.weights_source == "bundle" and loaded.pretrained_cfg.name == NAME and not loaded.training
    x = probe_inputs(model)
    assert torch.equal(loaded(x), model(x))
    assert torch.equal(hub.load_model(bundle[1])(x), model(x))


def test_explicit_checkpoint_path_wins(monkeypatch, trained, tmp_path, offline):
    other, _ = train_model(steps=3, seed=5)
    path = hub.save_model(other, tmp_path / "elsewhere")
    register(monkeypatch, other, {"accuracy": 0.5})  # a record without sha256, and no bundle
    m = create_model(NAME, pretrained=True, checkpoint_path=path)
    x = probe_inputs(other)
    assert m.weights_source == "path" and torch.equal(m(x), other(x))
    plain = create_model(ARCH, num_classes=3, seq_len=60, checkpoint_path=path / "model.safetensors")
    assert torch.equal(plain.eval()(x), other(x))
    with pytest.raises(hub.HubUnreachableError, match="offline mode is on"):
        create_model(NAME, pretrained=True)  # neither bundled nor cached, and nothing may be fetched


def test_fine_tuning_skips_head_and_resized_layers(monkeypatch, tmp_path, offline):
    # cnn_nguyen_2_conv2d flattens its feature map, so its dense layer depends on the sequence length.
    base = create_model("cnn_nguyen_2_conv2d", num_classes=3, seq_len=60).eval()
    cfg = zoo.PretrainedCfg(arch="cnn_nguyen_2_conv2d", tag="hubtest", num_classes=3, seq_len=60,
                            label_names=("a", "b", "c"), encoding=base.encoding.to_dict())
    zoo.registry.list_models(pretrained=True)
    monkeypatch.setitem(zoo.registry._pretrained, cfg.name, cfg)
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path))
    hub.save_model(base, tmp_path / hub.repo_id_for(cfg), cfg)
    with pytest.warns(UserWarning, match="num_classes changed"):
        ft = create_model(cfg.name, pretrained=True, num_classes=2)
    assert ft.skipped_weights == ["head.bias", "head.weight"] and ft.num_outputs == 1
    assert torch.equal(ft.features[0].weight, base.features[0].weight)
    with pytest.warns(UserWarning, match="seq_len changed") as rec:
        longer = create_model(cfg.name, pretrained=True, seq_len=100)
    assert longer.skipped_weights == ["dense.0.weight"], str(rec[0].message)
    assert torch.equal(longer.head.weight, base.head.weight)
    # Saved after fine-tuning, the new weight names the published one as its base model.
    config = hub.model_config(ft, dataset="my-data")
    assert config["base_model"] == "genozoo/cnn_nguyen_2_conv2d.hubtest" and config["dataset"] == "my-data"
    assert config["name"] is None and config["num_classes"] == 2


def test_tampered_and_truncated_weights_are_refused(bundle, offline):
    cfg, folder = bundle
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte in the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError, match="does not match the sha256 recorded"):
        zoo.create_model(NAME, pretrained=True)
    weights.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(hub.IntegrityError, match="do not match the sha256 its config.json records"):
        hub.load_model(folder)  # loaded by path, the folder's own recorded sha256 refuses it
    with pytest.raises(hub.IntegrityError, match="not a readable safetensors file"), \
            pytest.warns(UserWarning, match="loading them anyway"):
        hub.load_model(folder, allow_modified=True)  # past the check, the file itself is unreadable


def test_unknown_architecture_and_contract_mismatch(bundle, tmp_path):
    _, folder = bundle
    config = json.loads((folder / "config.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    (bad / "config.json").write_text(json.dumps({**config, "arch": "cnn_from_the_future"}))
    with pytest.raises(hub.UnknownArchitectureError, match="cnn_from_the_future"):
        hub.load_model(bad)
    (bad / "config.json").write_text(json.dumps({**config, "num_classes": 2, "label_names": ["x", "y"]}))
    with pytest.raises(hub.ContractMismatchError, match=r"head.weight has shape \(3, 32\) in the file but \(1, 32\)"):
        hub.load_model(bad)
    (bad / "config.json").write_text(json.dumps({**config, "encoding": {**config["encoding"], "k": 4}}))
    with pytest.raises(hub.ContractMismatchError, match="declares input encoding"):
        hub.load_model(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(hub.ContractMismatchError, match="not a readable JSON"):
        hub.load_model(bad)
    with pytest.raises(hub.WeightsNotFoundError):
        hub.load_model(tmp_path / "nowhere" / "at-all")


def test_bundle_whose_config_disagrees_with_the_record_is_refused(bundle, offline):
    _, folder = bundle
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "encoding": {**config["encoding"], "region": 2}}))
    with pytest.raises(hub.ContractMismatchError, match="trained for another input"):
        zoo.create_model(NAME, pretrained=True)
    (folder / "config.json").write_text(json.dumps({**config, "arch": "cnn_zeng_3_conv2d"}))
    with pytest.raises(hub.ContractMismatchError, match="is for architecture 'cnn_zeng_3_conv2d'"):
        zoo.create_model(NAME, pretrained=True)


def test_card_parses_and_holds_every_metric(bundle):
    cfg, folder = bundle
    card = ModelCard.load(folder / "README.md")
    d = card.data
    assert d.library_name == "genozoo" and d.license == "mit" and d.pipeline_tag == "text-classification"
    assert d.datasets is None  # planted_motif_3 is no Hub dataset: no invented id
    results = {(r.metric_type, r.metric_name): r for r in d.eval_results}
    assert {t for t, _ in results} == {"accuracy", "roc_auc"}
    own = results[("accuracy", "Accuracy (this weight, seed 0)")]
    mean = results[("accuracy", "Accuracy (mean ± sd over 3 seeds)")]
    assert own.metric_value == pytest.approx(cfg.metrics["accuracy"]["seed_value"], abs=1e-6)
    assert mean.metric_value == pytest.approx(cfg.metrics["accuracy"]["mean"], abs=1e-6)
    assert mean.metric_args == {"sd": 0.012, "n_seeds": 3}
    assert results[("roc_auc", "AUROC (this weight, seed 0)")].metric_value == 0.72
    assert results[("roc_auc", "AUROC (mean ± sd over 3 seeds)")].metric_value == 0.71
    # Not a git revision (a synthetic seed): kept in the card text only; no config prose either.
    assert (mean.dataset_split, mean.dataset_revision, mean.dataset_config) == ("test", None, None)
    text = card.text
    for section in ("## Intended use", "## Input contract", "## Training", "## Results", "## Limitations",
                    "## Citation"):
        assert section in text
    assert cfg.recipe in text and "0.640" in text and "10.1186/s12859-022-04660-8" in text
    assert "10.1093/bioinformatics/btw255" in text  # Zeng et al., who introduced the architecture


def test_card_of_one_seed_claims_no_spread(bundle):
    """One seed has no standard deviation: the card and its model-index must not report 0."""
    from dataclasses import replace

    cfg, folder = bundle
    one = replace(cfg, seeds=[cfg.seed if cfg.seed is not None else 0])
    text = render_model_card(json.loads((folder / "config.json").read_text()), one)
    card = ModelCard(text)
    accs = [r for r in card.data.eval_results if r.metric_type == "accuracy"]
    assert [r.metric_name for r in accs] == ["Accuracy (this weight, seed 0)"] and not accs[0].metric_args
    assert "one seed so far (no sd)" in card.text and " ± " not in card.text.split("## Results")[1]


def test_card_states_split_and_settings_once_in_a_fixed_metric_order(bundle):
    """The split is long (it says how the data was cut): the card gives it once, under Training, with the recipe's
    notes as its settings; the metrics keep one order however the record stores them."""
    from dataclasses import replace

    cfg, folder = bundle
    stored = replace(cfg, metrics=dict(sorted(cfg.metrics.items(), reverse=True)), notes="batch 64 on this task")
    card = ModelCard(render_model_card(json.loads((folder / "config.json").read_text()), stored))
    assert card.text.count(cfg.split) == 1 and "| split | stratified-70-15-15 |" in card.text
    assert "| settings | batch 64 on this task |" in card.text
    assert "batch 64" not in card.text.split("## Limitations")[1]
    results = card.text.split("## Results")[1]
    assert results.index("| Accuracy |") < results.index("| AUROC |")
    assert [r.metric_type for r in card.data.eval_results] == ["accuracy", "accuracy", "roc_auc", "roc_auc"]


def test_card_of_an_unpublished_model_invents_nothing(trained):
    model = trained[0]
    text = render_model_card(hub.model_config(model))
    card = ModelCard(text)
    assert card.data.eval_results is None and "No evaluation was recorded" in text
    assert "not recorded" in text


def test_card_command_rerenders(bundle, capsys):
    _, folder = bundle
    (folder / "README.md").write_text("stale")
    assert main(["card", str(folder)]) == 0
    assert ModelCard.load(folder / "README.md").data.eval_results
    assert main(["card", str(folder), "--name", "no_such.model"]) == 2
    assert "unknown model" in capsys.readouterr().err


@pytest.mark.parametrize("arch", list_models())
def test_every_architecture_has_its_paper(arch):
    assert arch_paper(arch, model_family(arch)) is not None, f"add {arch} to zoo.cards.ARCH_PAPERS"


def test_arch_papers_are_reachable_dois_or_arxiv():
    for paper in ARCH_PAPERS.values():
        assert re.match(r"https://(doi\.org/10\.\d+/|arxiv\.org/abs/\d{4}\.\d+)", paper["url"])


UNSAFE = re.compile(r"\bpickle\b|\bcPickle\b|\bdill\b|torch\.load\(|np\.load\([^)]*allow_pickle\s*=\s*True")


def test_no_unsafe_deserialization_in_the_code_base():
    """No pickle anywhere; torch.load only with weights_only=True (checked over the whole call)."""
    offenders = []
    for top in ("zoo", "space", "train"):
        for path in sorted((ROOT / top).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for m in UNSAFE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                if m.group().startswith("torch.load("):
                    depth, i = 1, m.end()
                    while depth and i < len(text):
                        depth += {"(": 1, ")": -1}.get(text[i], 0)
                        i += 1
                    if re.search(r"weights_only\s*=\s*True", text[m.end():i]):
                        continue
                elif text[:m.start()].rsplit("\n", 1)[-1].lstrip().startswith("#") or \
                        _in_docstring_or_string(text, m.start()):
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {m.group()}")
    assert not offenders, "unsafe deserialization:\n" + "\n".join(offenders)


def _in_docstring_or_string(text: str, pos: int) -> bool:
    """True when ``pos`` lies inside a string literal (docstrings mention pickle to say it is not used)."""
    import io
    import tokenize

    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.STRING and tok.start <= (line, col) < tok.end:
            return True
        if tok.start[0] > line:
            break
    return False


def test_transformer_family_saves_the_transformers_way(monkeypatch, tmp_path, offline):
    """bert_* folders load with genozoo (by name, offline, fine-tunable) and with plain transformers alike."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = create_model("bert_tiny_nt", num_classes=2, seq_len=40, label_names=["neg", "pos"],
                        num_layers=1, hidden_size=32, intermediate_size=64).eval()
    cfg = zoo.PretrainedCfg(arch="bert_tiny_nt", tag="hubtest", num_classes=2, seq_len=40,
                            label_names=("neg", "pos"), encoding=base.encoding.to_dict(),
                            model_args={"num_layers": 1, "hidden_size": 32, "intermediate_size": 64})
    zoo.registry.list_models(pretrained=True)
    monkeypatch.setitem(zoo.registry._pretrained, cfg.name, cfg)
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path))
    folder = hub.save_model(base, tmp_path / hub.repo_id_for(cfg), cfg)
    assert {"tokenizer.json", "README.md"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["arch"] == "bert_tiny_nt"
    seqs = ["ACGTN" * 8, "GGGCCCAA" * 5]
    x = zoo.encode(seqs, base.encoding)
    assert torch.equal(hub.load_model(folder)(x), base(x))
    assert torch.equal(create_model(cfg.name, pretrained=True)(x), base(x))
    with pytest.warns(UserWarning, match="num_classes changed"):
        assert create_model(cfg.name, pretrained=True, num_classes=3).skipped_weights == ["head.bias", "head.weight"]
    plain = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    inputs = AutoTokenizer.from_pretrained(folder)(seqs, return_tensors="pt", padding=True)
    # Two labels, single-label classification: the softmax is genozoo's probability table.
    assert torch.allclose(plain(**inputs).logits.softmax(-1), base.probabilities(base(x)), atol=1e-6)


def test_repo_ids_follow_the_configured_org(monkeypatch, trained):
    cfg = zoo.PretrainedCfg(arch=ARCH, tag="splice", num_classes=3, seq_len=60, label_names=LABELS,
                            encoding=trained[0].encoding.to_dict())
    assert hub.repo_id_for(cfg) == f"genozoo/{ARCH}.splice"
    monkeypatch.setenv("GENOZOO_HUB_ORG", "my-lab")
    assert hub.repo_id_for(cfg) == f"my-lab/{ARCH}.splice"
    assert hub.repo_id_for(zoo.PretrainedCfg(**{**cfg.to_dict(), "hub_id": "elsewhere/model"})) == "elsewhere/model"


def test_mixin_save_pretrained_writes_the_full_contract(tmp_path):
    """`model.save_pretrained` (the huggingface_hub mixin, also behind push_to_hub) writes genozoo's config, so the
    folder loads through zoo.hub.load_model with identical outputs."""
    import torch

    import zoo
    from zoo import hub

    model = zoo.create_model("deepram_conv1d_onehot", num_classes=3, seq_len=40).eval()
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["arch"] == "deepram_conv1d_onehot" and config["encoding"] == model.encoding.to_dict()
    back = hub.load_model(tmp_path / "m").eval()
    x = zoo.encode(["ACGT" * 10, "GGCA" * 10], model.encoding)
    assert torch.equal(model(x), back(x))


def test_saved_folders_are_readable_by_others(tmp_path):
    """safetensors writes 0600 files; a saved model folder gets the user's usual (umask) permissions, so a container
    user or a shared folder can read the weights."""
    import os
    import stat

    import zoo
    from zoo import hub
    from zoo.checkpoint import FILE_MODE

    model = zoo.create_model("cnn_zeng_2_conv2d", num_classes=2, seq_len=30)
    hub.save_model(model, tmp_path / "m")
    for f in (tmp_path / "m").iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == FILE_MODE, f.name


def test_saving_an_unchanged_published_model_keeps_its_record(bundle, offline, tmp_path):
    """save_model of a model loaded with its published weights writes that published weight (its results, no
    base_model naming itself); once its weights change it is a new weight whose base_model is the published one."""
    cfg, _ = bundle
    model = zoo.create_model(NAME, pretrained=True)
    folder = hub.save_model(model, tmp_path / "same")
    config = json.loads((folder / "config.json").read_text())
    assert config["name"] == NAME and config["base_model"] is None and config["dataset"] == cfg.dataset
    card = ModelCard.load(folder / "README.md").data
    assert card.base_model is None and card.eval_results and card.model_name == NAME
    with torch.no_grad():
        model.head.bias.add_(0.5)
    folder = hub.save_model(model, tmp_path / "changed")
    config = json.loads((folder / "config.json").read_text())
    assert config["base_model"] == hub.repo_id_for(cfg) and config["name"] is None
    assert ModelCard.load(folder / "README.md").data.base_model == hub.repo_id_for(cfg)


@pytest.mark.filterwarnings("ignore::zoo.registry.RandomWeightsWarning")  # built to render cards, not to predict
def test_cards_list_only_real_hub_datasets_and_name_the_origin():
    """The GUE-derived histone benchmark is a Hub dataset; the UCI splice and the Zeng motif files are not: they
    appear in the card text with URL and sha256 instead of as invented ids."""
    from zoo.cards import card_data, data_sources, hub_datasets

    assert hub_datasets("histone_h3_gue") == ["leannmlindsey/GUE"]
    assert hub_datasets("splice") == [] and hub_datasets("motif/wgEncodeAwgTfbsBroadDnd41CtcfUniPk") == []
    assert hub_datasets("my_file.csv") == []
    for name in list_models(pretrained=True):
        cfg = zoo.pretrained_cfg(name)
        data = card_data(hub.model_config(zoo.create_model(name), cfg), cfg)
        assert data.pipeline_tag == "text-classification"
        assert data.datasets == (hub_datasets(cfg.dataset) or None)
        for r in data.eval_results:
            assert r.dataset_revision is None or re.fullmatch(r"[0-9a-f]{40}", r.dataset_revision)
            assert r.dataset_config is None or len(r.dataset_config) <= 64
            assert "this weight" in r.metric_name or "mean ± sd over" in r.metric_name
        own = {r.metric_type: r.metric_value for r in data.eval_results if "this weight" in r.metric_name}
        assert own["accuracy"] == round(cfg.metrics["accuracy"]["seed_value"], 6)
    text = render_model_card(hub.model_config(zoo.create_model("cnn_zeng_3_conv2d.splice"),
                                              zoo.pretrained_cfg("cnn_zeng_3_conv2d.splice")),
                             zoo.pretrained_cfg("cnn_zeng_3_conv2d.splice"))
    (src,) = data_sources("splice")
    assert f"[{src['name']}]({src['url']}), sha256 `{src['sha256']}`" in text


def test_published_cards_are_generated_and_read_right_by_the_hub():
    """Every bundled card is exactly what `genozoo card` renders from the records (never hand-edited), and its
    metadata is what the Hub reads: pipeline_tag, real dataset ids only, no prose config, no checksum revision."""
    from zoo.hub.rerender import card_text

    for name in list_models(pretrained=True):
        cfg = zoo.pretrained_cfg(name)
        folder = hub.hub_dir() / hub.repo_id_for(cfg)
        assert (folder / "README.md").read_text(encoding="utf-8") == card_text(folder), f"{name}: run genozoo card"
        data = ModelCard.load(folder / "README.md").data.to_dict()
        assert data["pipeline_tag"] == "text-classification"
        for result in data["model-index"][0]["results"]:
            assert "revision" not in result["dataset"] and len(result["dataset"].get("config", "")) <= 64


def test_a_kept_record_with_an_undefined_score_is_strict_json(tmp_path):
    """A fine-tune scored on a split with one class has AUROC NaN: record.json says null (strict JSON), and the
    card renders from it again."""
    import math

    model = create_model(ARCH, num_classes=3, seq_len=60, label_names=list(LABELS))
    cfg = zoo.PretrainedCfg(arch=ARCH, tag="nan-test", num_classes=3, seq_len=60, label_names=LABELS,
                            encoding=model.encoding.to_dict(), dataset="mine",
                            metrics={"accuracy": {"mean": 0.5}, "auroc": {"mean": math.nan}})
    folder = hub.save_model(model, tmp_path / f"{ARCH}.nan-test", cfg, keep_record=True)

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    record = json.loads((folder / "record.json").read_text(), parse_constant=refuse)
    assert record["metrics"]["auroc"] == {"mean": None} and record["metrics"]["accuracy"] == {"mean": 0.5}
    hub.rerender_card(folder)
    assert (folder / "README.md").is_file()


def test_a_save_that_fails_leaves_no_folder(tmp_path, monkeypatch):
    """A full disk while the files are written (in a temporary sibling) left the empty model folder behind."""
    import errno

    model = create_model("genonet_small", seq_len=60, num_classes=3)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(model), "save_pretrained", full)
    with pytest.raises(OSError):
        hub.save_model(model, tmp_path / "out" / "model")
    assert list((tmp_path / "out").iterdir()) == []
