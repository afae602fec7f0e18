"""The whole zoo to a Hub and back, against the loopback Hub (tests/hubserver.py) with the unmodified
huggingface_hub client: `genozoo push --all --org ORG` makes one commit per published model and none on a second
run; then, with the bundle switched off and an empty cache, every published model pulls, verifies its reference
predictions and predicts from that Hub."""
from __future__ import annotations

import json

import pytest
from huggingface_hub import HfApi

import zoo
from zoo import hub
from zoo.cli import main
from zoo.publish import verify

ORG = "genozoo"  # the records' hub_id: <org>/<arch>.<tag>


def _commits(repo_id: str) -> list[str]:
    return [c.commit_id for c in HfApi().list_repo_commits(repo_id)]


@pytest.mark.slow
def test_push_all_is_idempotent_then_everything_pulls_verifies_and_predicts(hub_server, monkeypatch, tmp_path,
                                                                          capsys):
    names = zoo.list_models(pretrained=True)
    records = json.loads(zoo.registry.PRETRAINED_JSON.read_text())["models"]
    assert len(names) == len(records) >= 43  # every committed record, and none lost since the 43 of the grid
    assert main(["push", "--all", "--org", ORG]) == 0
    out = capsys.readouterr().out
    assert f"{len(names)} of {len(names)} model(s) pushed, 0 already up to date" in out
    commits = {}
    for name in names:
        repo = f"{ORG}/{name}"
        commits[name] = _commits(repo)
        assert len(commits[name]) == 2, repo  # the repo's initial commit + one upload
        folder = hub.hub_dir() / hub.repo_id_for(zoo.pretrained_cfg(name))
        assert sorted(HfApi().list_repo_files(repo)) == sorted([".gitattributes", *(
            p.name for p in folder.iterdir())]), repo
        assert hub_server.file(repo, "model.safetensors") == (folder / "model.safetensors").read_bytes()

    assert main(["push", "--all", "--org", ORG]) == 0  # a second run: nothing changed, no commit anywhere
    out = capsys.readouterr().out
    assert f"0 of {len(names)} model(s) pushed, {len(names)} already up to date" in out
    assert all(_commits(f"{ORG}/{n}") == commits[n] for n in names)

    # A changed file is pushed again, in one new commit for that model only.
    changed = tmp_path / "changed-hub"
    import shutil

    shutil.copytree(hub.hub_dir(), changed)
    first = names[0]
    card = changed / hub.repo_id_for(zoo.pretrained_cfg(first)) / "README.md"
    card.write_text(card.read_text() + "\n")
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(changed))
    assert main(["push", "--all", "--org", ORG]) == 0
    assert f"1 of {len(names)} model(s) pushed" in capsys.readouterr().out
    assert len(_commits(f"{ORG}/{first}")) == 3 and _commits(f"{ORG}/{names[1]}") == commits[names[1]]

    # The bundle switched off (an empty folder), the cache empty (the fixture's): everything comes from the Hub.
    (tmp_path / "no-bundle").mkdir()
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "no-bundle"))
    for name in names:
        folder = hub.pull(f"{ORG}/{name}")
        assert (folder / "reference.json").is_file(), name
        result = verify(name)
        assert result["ok"], result["message"]
        model = zoo.create_model(name, pretrained=True)
        assert model.weights_source == "hub", name
        p = model.predict(["ACGT" * 25]).probabilities
        assert p.shape == (1, len(model.label_names)) and abs(float(p.sum()) - 1) < 1e-5, name
