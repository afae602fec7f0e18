"""`genozoo evaluate` scores the split the run was trained with (the study's splice protocol here, not the
benchmark's default 70/15/15), reproduces the run's own test metrics, says which split it scored, and scores
another protocol only when told to."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.recipes import evaluate_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def splice_run(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate")
    recipe = ROOT / "train" / "recipes" / "cnn_zeng_2_conv2d.splice.yaml"  # data_args: {protocol: paper}
    assert main(["train", str(recipe), "--seed", "0", "--out", str(out), "--quiet", "--epochs=1",
                 f"--source={shared_data / 'splice'}"]) == 0
    folder = out / "cnn_zeng_2_conv2d.splice" / "seed0"
    return folder, json.loads((folder / "metrics.json").read_text())


def test_evaluate_scores_the_runs_own_split(splice_run, capsys):
    folder, metrics = splice_run
    own = evaluate_model(str(folder), device="cpu")
    assert own == pytest.approx(metrics["test"], abs=1e-6)
    assert "as the run's recipe made it (protocol=paper)" in own.scored
    # Naming the same benchmark keeps the run's protocol too: the dataset name alone does not say the split.
    assert main(["evaluate", str(folder), "--dataset", "splice", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == pytest.approx(metrics["test"], abs=1e-6)
    assert "scored the test split of splice as the run's recipe made it (protocol=paper)" in captured.err


def test_evaluate_scores_another_protocol_only_when_told(splice_run, capsys):
    folder, metrics = splice_run
    assert main(["evaluate", str(folder), "--protocol", "default", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    other = json.loads(captured.out)
    assert "(protocol=default), not the split of the run's recipe (splice, protocol=paper)" in captured.err
    assert other["accuracy"] != pytest.approx(metrics["test"]["accuracy"], abs=1e-9)  # other rows, other score


def test_a_published_model_without_the_checkouts_data_folder_evaluates_on_the_benchmarks_own_source(tmp_path):
    """An installed package has no ../shared/data: the published recipe's local copy is then skipped for the
    benchmark's own download or cache (here: offline and an empty cache, so the sentence says that), instead of
    'data source ../shared/data/splice does not exist'."""
    import os
    import subprocess
    import sys

    script = ("import pathlib, sys\nimport zoo.recipes as r\nr._REPO = pathlib.Path('/nonexistent')\n"
              "from zoo.cli import main\nsys.exit(main(['evaluate', 'genonet_small.splice']))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GENOZOO_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2, out.stderr
    assert "is not in the cache" in out.stderr and "offline" in out.stderr, out.stderr
    assert "does not exist" not in out.stderr
