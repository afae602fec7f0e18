"""The published zoo (zoo/pretrained.json + hub/): every record is complete and honest, every model loads offline
from the bundle with matching sha256 and parameter count, its card's model-index parses, and it reproduces its
reference predictions. Parametrized over the registry: publishing a model needs no test edit."""
import json
from pathlib import Path

import pytest

import zoo
from zoo.hub import hub_dir, repo_id_for, sha256_file
from zoo.publish import TEST_METRICS, hub_size_mb, verify

PUBLISHED = zoo.list_models(pretrained=True)
REQUIRED = ("arch", "tag", "num_classes", "seq_len", "label_names", "encoding", "hub_id", "sha256", "num_params",
            "dataset", "split", "metrics", "seeds", "seed", "license", "recipe")


def test_bundled_hub_stays_within_its_60_mb_budget():
    assert hub_size_mb() <= 60


def test_registry_file_is_generated_and_sorted():
    path = Path(zoo.registry.PRETRAINED_JSON)
    if not path.exists():
        pytest.skip("no published models yet")
    models = json.loads(path.read_text())["models"]
    names = [m["arch"] + "." + m["tag"] for m in models]
    assert names == sorted(names) == PUBLISHED


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_record_card_weights_and_reference(name, monkeypatch):
    from huggingface_hub import ModelCard

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = zoo.pretrained_cfg(name)
    rec = cfg.to_dict()
    assert all(rec[k] not in (None, "", (), {}) for k in REQUIRED), [k for k in REQUIRED if not rec[k]]
    assert set(cfg.metrics) == set(TEST_METRICS) and cfg.seed in cfg.seeds
    assert all({"mean", "sd", "seed_value"} <= set(v) for v in cfg.metrics.values())
    assert Path(cfg.recipe.split()[2]).name == f"{name}.yaml"
    folder = hub_dir() / repo_id_for(cfg)
    assert sha256_file(folder / "model.safetensors") == cfg.sha256
    model = zoo.create_model(name, pretrained=True)
    assert model.num_parameters() == cfg.num_params
    assert list(model.label_names) == list(cfg.label_names) and model.encoding.to_dict() == dict(cfg.encoding)
    card = ModelCard.load(folder / "README.md")
    results = card.data.eval_results
    assert results and {r.metric_type for r in results} >= {"accuracy", "roc_auc"}
    acc = {r.metric_name: r.metric_value for r in results if r.metric_type == "accuracy"}
    assert acc[f"Accuracy (this weight, seed {cfg.seed})"] == pytest.approx(cfg.metrics["accuracy"]["seed_value"],
                                                                          abs=1e-6)
    assert acc[f"Accuracy (mean ± sd over {len(cfg.seeds)} seeds)"] == pytest.approx(cfg.metrics["accuracy"]["mean"],
                                                                                      abs=1e-6)
    assert "Zhang, Cheng & Solis-Lemus" in card.text
    result = verify(name)
    assert result["ok"], result["message"]


def test_readme_leaderboard_is_the_generated_one():
    from zoo.publish import README_END, README_START, leaderboard_markdown

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == leaderboard_markdown().strip(), "run: genozoo publish RUNS --readme README.md"
