"""zoo.publish and `genozoo publish/verify`: a real tiny grid is published into a temporary hub; reference
predictions reproduce, a tampered reference or weight is caught, the records drive create_model."""
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from engine_tiny import tiny_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from zoo.grid import benchmark

    root = tmp_path_factory.mktemp("publish")
    tiny_benchmark(n=200, length=40).save_to_disk(str(root / "tiny"))
    benchmark("cnn_zeng_2_conv2d,deepram_conv1d_onehot", [str(root / "tiny")], 2, out_dir=root / "runs",
              overrides=["--epochs=2"], quiet=True, figures=False)
    env = {**os.environ, "GENOZOO_HUB_DIR": str(root / "hub"), "GENOZOO_PRETRAINED": str(root / "pretrained.json"),
           "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "zoo", "publish", str(root / "runs"), "--quiet"], env=env,
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return root, env, out.stdout


def _genozoo(env, *args):
    return subprocess.run([sys.executable, "-m", "zoo", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_publish_writes_folders_and_records_of_the_best_seed(published):
    root, env, stdout = published
    records = {r["arch"] + "." + r["tag"]: r for r in json.loads((root / "pretrained.json").read_text())["models"]}
    assert sorted(records) == ["cnn_zeng_2_conv2d.tiny", "deepram_conv1d_onehot.tiny"]
    for name, rec in records.items():
        folder = root / "hub" / "genozoo" / name
        assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                           "reference.json"]
        runs = [json.loads((root / "runs" / name / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
        best = max(runs, key=lambda m: (m["validation"]["accuracy"], -m["validation"]["loss"]))
        assert rec["seed"] == best["seed"] and rec["seeds"] == [0, 1]
        accs = [m["test"]["accuracy"] for m in runs]
        assert rec["metrics"]["accuracy"]["mean"] == pytest.approx(sum(accs) / 2)
        assert rec["metrics"]["accuracy"]["seed_value"] == pytest.approx(best["test"]["accuracy"])
        assert rec["recipe"].endswith(f"--seed {best['seed']}")
    assert "published 2 model(s)" in stdout


def test_verify_passes_then_catches_tampering(published):
    root, env, _ = published
    ok = _genozoo(env, "verify", "--all")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 of 2 model(s) reproduce" in ok.stdout
    ref_path = root / "hub" / "genozoo" / "cnn_zeng_2_conv2d.tiny" / "reference.json"
    original = ref_path.read_text()
    ref = json.loads(original)
    ref["probabilities"][0][0] += 1e-3
    ref_path.write_text(json.dumps(ref))
    try:
        bad = _genozoo(env, "verify", "cnn_zeng_2_conv2d.tiny")
        assert bad.returncode == 1 and "FAIL" in bad.stdout and "differ" in bad.stdout
    finally:
        ref_path.write_text(original)
    weights = root / "hub" / "genozoo" / "deepram_conv1d_onehot.tiny" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-8] + bytes(8))
    try:
        bad = _genozoo(env, "verify", "deepram_conv1d_onehot.tiny")
        assert bad.returncode == 2 and "does not match the sha256" in bad.stderr
    finally:
        weights.write_bytes(data)


def test_unknown_model_and_missing_runs_are_clear_errors(published):
    root, env, _ = published
    bad = _genozoo(env, "verify", "nope.tiny")
    assert bad.returncode == 2 and "unknown model 'nope.tiny'" in bad.stderr
    bad = _genozoo(env, "publish", str(root / "runs"), "cnn_deepdbp.tiny")
    assert bad.returncode == 2 and "no finished runs for cnn_deepdbp.tiny" in bad.stderr


def test_select_top_keeps_the_best_by_mean_validation_accuracy_plus_the_transformer():
    from zoo.publish import best_runs, select_top

    def rows(arch, tag, accs):
        return [{"arch": arch, "tag": tag, "seed": s, "validation_accuracy": a, "validation_loss": 1 - a}
                for s, a in enumerate(accs)]

    grid = (rows("cnn_zeng_2_conv2d", "h", [0.70, 0.72]) + rows("deepram_conv1d_onehot", "h", [0.90, 0.50])
            + rows("lstm_baseline", "h", [0.80]) + rows("bert_tiny_nt", "h", [0.60])
            + rows("cnn_deepdbp", "m", [0.55]) + rows("doc2vec_mlp", "m", [0.65]))
    # One lucky seed (0.90) does not win: deepram's mean is 0.70, below lstm_baseline's 0.80 and Zeng's 0.71.
    assert select_top(best_runs(grid), 2) == ["lstm_baseline.h", "cnn_zeng_2_conv2d.h", "bert_tiny_nt.h",
                                              "doc2vec_mlp.m", "cnn_deepdbp.m"]
    assert select_top(best_runs(grid), 1)[:2] == ["lstm_baseline.h", "bert_tiny_nt.h"]
    # The transformer does not take one of the k places, even when it ranks among them.
    grid += rows("bert_tiny_kmer3", "m", [0.99])
    assert select_top(best_runs(grid), 1)[-2:] == ["doc2vec_mlp.m", "bert_tiny_kmer3.m"]


def test_publish_top_and_tags_through_the_cli(published):
    root, env, _ = published
    bad = _genozoo(env, "publish", str(root / "runs"), "--tags", "nope", "--quiet")
    assert bad.returncode == 2 and "no finished runs for tag(s) nope" in bad.stderr
    out = _genozoo(env, "publish", str(root / "runs"), "--top", "1", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "published 1 model(s)" in out.stdout


def test_publish_merge_ranks_over_the_whole_table(published, tmp_path):
    """With --merge, rows of an earlier results.csv compete for the --top K; a chosen name whose best seed has no
    run folder here keeps its published weights with metrics refreshed over all its seeds, and is a clear error
    if it was never published."""
    import shutil

    from zoo.grid import collect, write_results_csv

    root, env, _ = published
    name = "deepram_conv1d_onehot.tiny"
    shutil.copytree(root / "runs" / "cnn_zeng_2_conv2d.tiny", tmp_path / "runs" / "cnn_zeng_2_conv2d.tiny")
    shutil.copytree(root / "hub", tmp_path / "hub", ignore=shutil.ignore_patterns("cnn_zeng_2_conv2d.tiny"))
    table = [dict(r, validation_accuracy=0.99, run_dir=str(tmp_path / "other_machine" / f"seed{r['seed']}"))
             for r in collect(root / "runs") if r["arch"] == "deepram_conv1d_onehot"]
    table.append(dict(table[0], seed=2, validation_accuracy=0.5, test_accuracy=0.25))  # finished later, elsewhere
    write_results_csv(table, tmp_path / "results.csv")
    shutil.copy(root / "pretrained.json", tmp_path / "pretrained.json")
    env = {**env, "GENOZOO_HUB_DIR": str(tmp_path / "hub"), "GENOZOO_PRETRAINED": str(tmp_path / "pretrained.json")}
    weights = (tmp_path / "hub" / "genozoo" / name / "model.safetensors").read_bytes()
    before = {r["arch"] + "." + r["tag"]: r for r in json.loads((root / "pretrained.json").read_text())["models"]}
    args = ["publish", str(tmp_path / "runs"), "--top", "1", "--quiet", "--merge", str(tmp_path / "results.csv")]
    out = _genozoo(env, *args)  # deepram wins on the table: no weights written, its record refreshed
    assert out.returncode == 0, out.stderr
    assert "published 0 model(s)" in out.stdout and f"{name}: kept seed" in out.stdout
    assert not (tmp_path / "hub" / "genozoo" / "cnn_zeng_2_conv2d.tiny").exists()
    rec = {r["arch"] + "." + r["tag"]: r for r in json.loads((tmp_path / "pretrained.json").read_text())["models"]}
    accs = [r["test_accuracy"] for r in table]
    assert rec[name]["seeds"] == [0, 1, 2] and rec[name]["seed"] == before[name]["seed"]
    assert rec[name]["metrics"]["accuracy"]["mean"] == pytest.approx(sum(accs) / 3)
    assert rec[name]["metrics"]["accuracy"]["seed_value"] == before[name]["metrics"]["accuracy"]["seed_value"]
    assert rec[name]["sha256"] == before[name]["sha256"]
    assert (tmp_path / "hub" / "genozoo" / name / "model.safetensors").read_bytes() == weights
    card = (tmp_path / "hub" / "genozoo" / name / "README.md").read_text()
    assert "mean ± sd over 3 seeds" in card and "of 40 nucleotides into 2 classes" in card  # described as save_model does
    out = _genozoo(env, *args[:3], "2", *args[4:])  # both: Zeng from its folder here, deepram kept
    assert out.returncode == 0, out.stderr
    assert "published 1 model(s)" in out.stdout and "cnn_zeng_2_conv2d.tiny: seed" in out.stdout
    (tmp_path / "pretrained.json").unlink()
    bad = _genozoo(env, *args)
    assert bad.returncode == 2 and f"{name} has no run folder" in bad.stderr and "never published" in bad.stderr


def test_card_notes_follow_the_committed_recipe_only_when_it_trains_the_same(published, tmp_path):
    from zoo.publish import _notes
    from zoo.recipes import load_recipe

    root, _, _ = published
    run = load_recipe(root / "runs" / "cnn_zeng_2_conv2d.tiny" / "seed0" / "recipe.yaml")
    assert _notes(run, tmp_path) == run.notes  # no committed recipe of that name
    committed = tmp_path / f"{run.name}.yaml"
    committed.write_text(replace(run, notes="reworded", seeds=[0, 1, 2], quiet=not run.quiet).to_yaml())
    assert _notes(run, tmp_path) == "reworded"
    committed.write_text(replace(run, notes="reworded", lr=run.lr / 2).to_yaml())
    assert _notes(run, tmp_path) == run.notes  # trains otherwise: the run's own notes stand


def test_publish_keeps_a_better_published_weight_unless_forced(published, tmp_path):
    """New runs with a lower mean validation accuracy (one untrained seed) do not replace a published weight (one
    trained for 6 epochs): the command says which it kept and why, folder and record untouched; --force replaces
    it."""
    from zoo.grid import benchmark

    _, env, _ = published
    name = "deepram_conv1d_onehot.tiny"
    tiny_benchmark(n=600, length=40).save_to_disk(str(tmp_path / "tiny"))  # learnable: ~0.9 after a few epochs
    env = {**env, "GENOZOO_HUB_DIR": str(tmp_path / "hub"), "GENOZOO_PRETRAINED": str(tmp_path / "pretrained.json")}
    for runs, overrides in (("good", ["--epochs=6", "--lr=3e-3", "--patience=null"]),
                            ("worse", ["--epochs=1", "--lr=1e-12"])):  # the weights barely move
        benchmark("deepram_conv1d_onehot", [str(tmp_path / "tiny")], [0], out_dir=tmp_path / runs,
                  overrides=overrides, quiet=True, figures=False)
    out = _genozoo(env, "publish", str(tmp_path / "good"), "--quiet")
    assert out.returncode == 0, out.stderr
    old = json.loads((tmp_path / "good" / name / "seed0" / "metrics.json").read_text())["validation"]["accuracy"]
    new = json.loads((tmp_path / "worse" / name / "seed0" / "metrics.json").read_text())["validation"]["accuracy"]
    assert new < old  # the premise: 6 epochs of training beat none
    before = json.loads((tmp_path / "pretrained.json").read_text())
    weights = (tmp_path / "hub" / "genozoo" / name / "model.safetensors").read_bytes()

    out = _genozoo(env, "publish", str(tmp_path / "worse"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert (f"{name}: kept the published weight (mean validation accuracy {old:.3f} over 1 seed(s)); the new runs "
            f"score {new:.3f} over 1 seed(s), lower (--force replaces it)") in out.stdout
    assert "published 0 model(s)" in out.stdout
    assert (tmp_path / "hub" / "genozoo" / name / "model.safetensors").read_bytes() == weights
    assert json.loads((tmp_path / "pretrained.json").read_text()) == before

    out = _genozoo(env, "publish", str(tmp_path / "worse"), "--quiet", "--force")
    assert out.returncode == 0, out.stderr
    assert "published 1 model(s)" in out.stdout and "kept the published weight" not in out.stdout
    (after,) = json.loads((tmp_path / "pretrained.json").read_text())["models"]
    assert after["validation"]["accuracy"]["mean"] == pytest.approx(new)
    assert (tmp_path / "hub" / "genozoo" / name / "model.safetensors").read_bytes() != weights
