"""Push and pull through the unmodified huggingface_hub client against the loopback Hub (tests/hubserver.py):
a trained model and a benchmark go up and come back identical into an empty cache; published weights resolve
from the Hub at their pinned revision, then offline from the cache; every failure is one clear error and leaves
no partial file in the cache."""
from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import HfApi, ModelCard, constants

import zoo
from zoo import hub
from zoo.cli import main

from hub_helpers import NAME, benchmark, probe_inputs, register, train_model

REPO = f"genozoo/{NAME}"


@pytest.fixture(scope="module")
def trained():
    return train_model()


@pytest.fixture
def published(hub_server, monkeypatch, tmp_path, trained):
    """The trained test weight saved, pushed with the CLI to the loopback Hub, and recorded with its commit and
    sha256; no bundle, so loads go through the Hub."""
    model, metrics = trained
    cfg = register(monkeypatch, model, metrics)
    folder = hub.save_model(model, tmp_path / "out" / NAME, cfg)
    assert main(["push", str(folder), "--repo", REPO]) == 0
    commit = HfApi().model_info(REPO).sha
    sha = hub.sha256_file(folder / "model.safetensors")
    cfg = register(monkeypatch, model, metrics, revision=commit, sha256=sha)
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "no-bundle"))
    return cfg, folder


def _cache_files(repo_id: str = REPO) -> list[str]:
    from pathlib import Path

    root = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    return sorted(p.name for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _blobs(repo_id: str = REPO) -> list[str]:
    from pathlib import Path

    root = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "blobs"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_push_then_pull_into_empty_cache_gives_identical_predictions(published, hub_server, trained, capsys,
                                                                      monkeypatch):
    cfg, folder = published
    model = trained[0]
    assert {"model.safetensors", "config.json", "README.md"} <= set(HfApi().list_repo_files(REPO))
    assert hub_server.file(REPO, "model.safetensors") == (folder / "model.safetensors").read_bytes()
    assert _blobs() == []  # pushing does not fill the cache
    assert main(["pull", REPO]) == 0
    pulled = capsys.readouterr().out.strip().splitlines()[-1]
    assert pulled.endswith(cfg.revision)  # the snapshot of the pushed commit
    x = probe_inputs(model)
    assert torch.equal(hub.load_model(pulled)(x), model(x))
    assert torch.equal(hub.load_model(REPO)(x), model(x))
    # The published name resolves through the Hub at the pinned revision ...
    loaded = zoo.create_model(NAME, pretrained=True)
    assert loaded.weights_source == "hub" and torch.equal(loaded(x), model(x))
    # ... and then offline, from the cache alone.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_server.offline()
    before = len(hub_server.requests)
    assert torch.equal(zoo.create_model(NAME, pretrained=True)(x), model(x))
    assert torch.equal(hub.load_model(REPO)(x), model(x))
    assert len(hub_server.requests) == before  # nothing was even attempted


def test_pushed_card_parses_and_holds_the_metrics(published):
    cfg, _ = published
    card = ModelCard.load(REPO)
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["accuracy"].metric_value == pytest.approx(cfg.metrics["accuracy"]["mean"], abs=1e-6)
    assert results["roc_auc"].metric_args["sd"] == 0.02
    assert card.data.library_name == "genozoo" and "genozoo" in HfApi().model_info(REPO).tags


def test_pinned_revision_and_branches(published, hub_server, tmp_path, trained):
    cfg, folder = published
    other, _ = train_model(steps=5, seed=3)
    newer = hub.save_model(other, tmp_path / "newer", cfg)
    assert main(["push", str(newer), "--repo", REPO, "-m", "retrain"]) == 0
    x = probe_inputs(other)
    # The record pins the first commit, so the newer main is not what create_model loads.
    assert torch.equal(zoo.create_model(NAME, pretrained=True)(x), trained[0](x))
    assert torch.equal(hub.load_model(REPO)(x), other(x))
    assert main(["push", str(folder), "--repo", REPO, "--revision", "v1"]) == 0
    assert torch.equal(hub.load_model(REPO, revision="v1")(x), trained[0](x))
    assert [b.name for b in HfApi().list_repo_refs(REPO).branches] == ["main", "v1"]
    assert main(["pull", REPO, "--revision", "v1", "--to", str(tmp_path / "copy")]) == 0
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


def test_private_repo_needs_a_token(published, hub_server, monkeypatch, capsys):
    _, folder = published
    assert main(["push", str(folder), "--repo", "lab/secret-model", "--private"]) == 0
    assert hub_server.repo("lab/secret-model").private
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(hub.RepoNotFoundError, match="is private and no token is set"):
        hub.pull("lab/secret-model")
    assert main(["push", str(folder), "--repo", "lab/other"]) == 2
    assert "no Hugging Face token" in capsys.readouterr().err


def test_failures_are_clear_and_leave_no_partial_files(published, hub_server, monkeypatch, trained):
    cfg, folder = published
    with pytest.raises(hub.RepoNotFoundError, match="does not exist"):
        hub.pull("genozoo/no-such-model")
    assert main(["pull", "genozoo/no-such-model"]) == 2  # a 404 is the name's fault
    HfApi().create_repo("genozoo/empty")
    with pytest.raises(hub.WeightsNotFoundError, match="has no file 'config.json'"):
        hub.load_model("genozoo/empty")
    with pytest.raises(hub.RepoNotFoundError, match="revision 'nope'"):
        hub.load_model(REPO, revision="nope")
    # The connection drops in the middle of the weights: nothing half-written stays in the cache.
    hub_server.truncate["model.safetensors"] = 1000
    with pytest.raises(hub.HubError):
        zoo.create_model(NAME, pretrained=True)
    assert not [b for b in _blobs() if b.endswith(".incomplete")]
    del hub_server.truncate["model.safetensors"]
    # Bytes altered in transit (same length, true ETag): refused and evicted, even without a recorded sha256.
    good = hub_server.file(REPO, "model.safetensors")
    bad = bytearray(good)
    bad[-7] ^= 0xFF
    hub_server.corrupt["model.safetensors"] = bytes(bad)
    with pytest.raises(hub.IntegrityError, match="does not match the sha256 the Hub reports"):
        hub.load_model(REPO)
    assert "model.safetensors" not in _cache_files() and not [b for b in _blobs() if len(b) == 64]
    del hub_server.corrupt["model.safetensors"]
    # A Hub file that differs from the record (a re-upload under the pinned name) is refused against cfg.sha256.
    other, metrics = train_model(steps=2, seed=9)
    register(monkeypatch, other, metrics, revision=None, sha256=cfg.sha256)
    hub.push(hub.save_model(other, folder.parent / "swap"), REPO)
    with pytest.raises(hub.IntegrityError, match="does not match the sha256 recorded"):
        zoo.create_model(NAME, pretrained=True)
    assert not [b for b in _blobs() if len(b) == 64 and b != cfg.sha256]
    # The network is down and nothing is cached.
    hub_server.offline()
    with pytest.raises(hub.HubUnreachableError, match="cannot be reached"):
        hub.load_model("genozoo/never-fetched")
    assert main(["pull", "genozoo/never-fetched"]) == 1  # the network's fault, not the name's


def test_push_refuses_a_broken_folder(published, tmp_path, capsys):
    _, folder = published
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "README.md"):
        (broken / name).write_bytes((folder / name).read_bytes())
    assert main(["push", str(broken), "--repo", "genozoo/broken"]) == 2
    assert "has no model.safetensors" in capsys.readouterr().err
    (broken / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:100])
    assert main(["push", str(broken), "--repo", "genozoo/broken"]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_benchmark_push_and_pull_roundtrip(hub_server):
    data = benchmark()
    card = ("---\nlicense: cc-by-4.0\ntags:\n- genomics\n- dna\ntask_categories:\n- text-classification\n---\n"
            "# planted_motif_3\n\nSynthetic planted-motif benchmark.\n")
    url = hub.push_dataset(data, "genozoo/planted_motif_3", card, private=True)
    assert "/datasets/genozoo/planted_motif_3/commit/" in url
    files = HfApi().list_repo_files("genozoo/planted_motif_3", repo_type="dataset")
    assert any(f.endswith(".parquet") for f in files) and not any(f.endswith(".py") for f in files)
    from huggingface_hub import DatasetCard

    pushed = DatasetCard.load("genozoo/planted_motif_3")
    assert pushed.data.license == "cc-by-4.0" and pushed.data.configs  # our card, plus datasets' metadata
    assert "Synthetic planted-motif benchmark." in pushed.text
    back = hub.pull_dataset("genozoo/planted_motif_3")
    assert list(back) == list(data)
    for split in data:
        assert back[split].features == data[split].features
        assert back[split].to_dict() == data[split].to_dict()


def test_dataset_card_without_front_matter_is_accepted_as_the_hub_accepts_it(hub_server):
    """The Hub takes a README without YAML front matter (a warning, no error); the pushed card gets the metadata
    datasets wrote (its ``configs``), so it is pushed with a front matter and without that warning."""
    from huggingface_hub import DatasetCard

    hub.push_dataset(benchmark(), "genozoo/bare-card", "# card\n\nOur own words.\n")
    pushed = DatasetCard.load("genozoo/bare-card", repo_type="dataset")
    assert "Our own words." in pushed.text and pushed.data.configs and pushed.data.dataset_info


def test_a_card_the_hub_refuses_is_one_sentence_and_leaves_no_repo(hub_server, published, capsys):
    hub_server.reject_yaml = '"license" must be one of [apache-2.0, mit, other]'
    card = "---\nlicense: my-own-license\n---\n# card\n"
    with pytest.raises(hub.HubError, match=r"the Hub refuses the metadata of the dataset card for 'genozoo/refused' "
                                           r"\(\"license\" must be one of"):
        hub.push_dataset(benchmark(), "genozoo/refused", card)
    assert ("dataset", "genozoo/refused") not in hub_server.repos  # refused before anything was created
    # A model folder's card refused by the Hub: one sentence too, not huggingface_hub's ValueError.
    _, folder = published
    assert main(["push", str(folder), "--repo", "genozoo/refused-model"]) == 2
    err = capsys.readouterr().err
    assert "genozoo: error: the Hub refuses the metadata of the card (README.md)" in err and "Traceback" not in err
    assert '"license" must be one of' in err


def test_a_refused_data_upload_leaves_no_card_only_repo(hub_server):
    """The data goes up before the card: when the Hub refuses the parquet files, a repo the push created is gone
    again, and a repo holding an earlier push keeps exactly its files (not a new card over the old data)."""
    card = "---\nlicense: cc-by-4.0\n---\n# planted_motif_3\n\nFirst push.\n"
    hub_server.refuse_uploads = "*.parquet"
    with pytest.raises(hub.HubError, match="HTTP 403"):
        hub.push_dataset(benchmark(), "genozoo/refused-data", card)
    assert ("dataset", "genozoo/refused-data") not in hub_server.repos
    hub_server.refuse_uploads = None
    hub.push_dataset(benchmark(), "genozoo/earlier", card)
    before = dict(hub_server.repo("genozoo/earlier", "dataset").resolve("main").files)
    hub_server.refuse_uploads = "*.parquet"
    with pytest.raises(hub.HubError, match="HTTP 403"):
        hub.push_dataset(benchmark(), "genozoo/earlier", card.replace("First", "Second"))
    assert hub_server.repo("genozoo/earlier", "dataset").resolve("main").files == before


def test_a_connection_lost_during_the_data_upload_leaves_no_card_only_repo(hub_server):
    hub_server.drop_uploads = "*.parquet"
    with pytest.raises(hub.HubConnectionError, match="dropped the connection"):
        hub.push_dataset(benchmark(), "genozoo/dropped", "---\nlicense: cc-by-4.0\n---\n# card\n")
    assert ("dataset", "genozoo/dropped") not in hub_server.repos


def test_an_unclosed_front_matter_is_refused_naming_the_card(hub_server, published, capsys):
    """huggingface_hub reads a front matter opened with '---' and never closed as no metadata (one log line); genozoo
    refuses it in one sentence, for a dataset card pushed from Python and a model folder's README on the CLI."""
    with pytest.raises(hub.HubError, match=r"the dataset card for 'genozoo/unclosed' opens its YAML front matter "
                                           r"with '---' but never closes it"):
        hub.push_dataset(benchmark(), "genozoo/unclosed", "---\nlicense: cc-by-4.0\n\n# card\n")
    assert ("dataset", "genozoo/unclosed") not in hub_server.repos
    _, folder = published
    card = folder / "README.md"
    yaml_block, body = card.read_text().removeprefix("---\n").split("\n---\n", 1)
    card.write_text(f"---\n{yaml_block}\n{body}")
    assert main(["push", str(folder), "--repo", "genozoo/unclosed-model"]) == 2
    err = capsys.readouterr().err
    assert f"the card {card} opens its YAML front matter with '---' but never closes it" in err
    assert "Traceback" not in err and ("model", "genozoo/unclosed-model") not in hub_server.repos


def test_model_push_to_hub_and_from_pretrained_through_the_hub(hub_server, trained):
    """ZooModel's own push_to_hub / from_pretrained (zoo.models.hubmixin, huggingface_hub's mixin behaviour without
    importing it for local folders): one commit with the weights, genozoo's full config.json and the mixin's card;
    the class builds back from the repo with identical outputs, and zoo.hub.load_model reads the same repo."""
    model = trained[0].eval()
    repo = "my-lab/mixin-push"
    url = model.push_to_hub(repo, commit_message="mixin push")
    assert repo in url
    assert {"README.md", "config.json", "model.safetensors"} <= set(HfApi().list_repo_files(repo))
    config = json.loads(hub_server.file(repo, "config.json"))
    assert config["arch"] == model.arch and config["encoding"] == model.encoding.to_dict()
    card = ModelCard(hub_server.file(repo, "README.md").decode())
    assert card.data.library_name == "genozoo" and "pytorch_model_hub_mixin" in card.data.tags
    x = probe_inputs(model)
    again = type(model).from_pretrained(repo)
    assert not again.training and again.label_names == model.label_names
    assert torch.equal(again(x), model(x))
    assert torch.equal(hub.load_model(repo)(x), model(x))


@pytest.fixture
def refused_hub(monkeypatch, tmp_path):
    """The Hugging Face clients pointed at a closed port of 127.0.0.1 (every connection refused at once), with
    empty caches and the client's retries not waiting (five back-offs would cost 23 s)."""
    import socket
    import types

    from huggingface_hub.utils import _http

    from hubserver import _patch_clients

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    home = tmp_path / "hf_home"
    home.mkdir()
    _patch_clients(monkeypatch, f"http://127.0.0.1:{port}", home)
    monkeypatch.setattr(_http, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "no-bundle"))
    return port


def test_an_unreachable_hub_is_an_environment_failure(refused_hub, tmp_path, capfd, caplog):
    fasta = tmp_path / "in.fa"
    fasta.write_text(">a\n" + "ACGT" * 15 + "\n")
    with pytest.raises(hub.HubConnectionError, match=f"127.0.0.1:{refused_hub} cannot be reached"):
        hub.load_model("ORG/x")
    assert main(["pull", "ORG/x"]) == 1
    assert main(["predict", "-q", "ORG/NAME", str(fasta)]) == 1
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("genozoo: error: ")]
    assert len(errors) == 2 and all("cannot be reached" in line for line in errors), errors
    # The client's back-off (five retries, two lines each, naming the URL and the exception) is one line of ours a
    # command, not ten of its own.
    logged = [r.getMessage() for r in caplog.records]
    assert not [m for m in logged if "Retrying in" in m or "thrown while requesting" in m], logged
    notices = [m for m in logged if "does not answer; retrying" in m]
    assert len(notices) == 3 and all(f"127.0.0.1:{refused_hub}" in line for line in notices), notices


def test_an_unreachable_hub_on_push_gives_push_advice(refused_hub, trained, tmp_path, monkeypatch, capfd):
    """Pushing to a Hub that cannot be reached says so, without the download advice (HF_HUB_OFFLINE=1 with a
    cached model) that cannot help an upload."""
    model, _ = trained
    monkeypatch.setenv("HF_TOKEN", "x")
    folder = hub.save_model(model, tmp_path / "mine")
    assert main(["push", str(folder), "--repo", "ORG/mine"]) == 1
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("genozoo: error: ")]
    assert len(errors) == 1 and "while pushing to the model repo 'ORG/mine'" in errors[0], errors
    assert "HF_HUB_OFFLINE" not in errors[0] and "HF_ENDPOINT" in errors[0]
