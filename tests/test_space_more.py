"""The space on 127.0.0.1, further: repeated FASTA ids get ids of their own that /predict, the Sequence picker and
/explain share; a fine-tuned model folder shows the test metric it records; a refused ``--default`` names the
option and comes before any "serving" line. Real servers, called with ``gradio_client``; no mocks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import zoo
from test_space import DEMO_ARCHS, DEMO_TASK, served, train_demo_models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    """The demo models, and a real one-epoch fine-tune (``zoo.finetune``, what ``genozoo finetune -o`` writes:
    record.json and metrics.json with its test metrics) in the folder ``ft1``."""
    from zoo.data import planted_motif_benchmark
    from zoo.finetune import finetune

    hub = tmp_path_factory.mktemp("hub")
    train_demo_models(hub)
    torch.manual_seed(0)
    base = zoo.create_model("deepram_conv1d_onehot", num_classes=2, seq_len=101, conv_filters=[4, 4], dense=8,
                            label_names=["absent", "present"])
    with warnings.catch_warnings():  # one epoch learns little, and need not: the folder's metrics are the point
        warnings.simplefilter("ignore")
        finetune(base, planted_motif_benchmark(300, 101, ["CTCF"], seed=3), hub / "ft1", epochs=1, quiet=True,
                 device="cpu")
    return hub


@pytest.fixture(scope="module")
def space(hub):
    from genozoo_space import Catalogue

    with served(Catalogue(hub, "cpu")) as pair:
        yield pair


def test_repeated_ids_each_get_their_own_id_on_every_endpoint(space):
    cat, client = space
    name = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"
    first, second = "ACGT" * 25 + "A", "GGCC" * 25 + "G"
    text = f">a\n{first}\n>a\n{second}\n>b\n{first}"
    status, table = client.predict(name, text, None, api_name="/predict")
    ids = [r[0] for r in table["data"]]
    assert ids == ["a", "a (2)", "b"]
    assert "ids repeated in the input were made unique: 'a (2)' is sequence 2." in status
    # /explain of the second record explains the second record: its caption's probability is that row's.
    probs = {r[0]: r[2:4] for r in table["data"]}
    for sid in ("a", "a (2)"):
        _, caption = client.predict(name, text, None, sid, "saliency", api_name="/explain")
        assert caption.startswith(f"**{sid}**:")
        p = float(caption.split("(p = ")[1].split(")")[0])
        assert p == pytest.approx(max(probs[sid]), abs=1e-3)
    assert max(probs["a"]) != pytest.approx(max(probs["a (2)"]), abs=1e-3)  # the two records differ
    compared = client.predict(DEMO_TASK, text, None, api_name="/compare")
    assert sorted({r[0] for r in compared["data"]}) == sorted(ids)
    # Unique ids: no note.
    status, _ = client.predict(name, f">a\n{first}\n>b\n{second}", None, api_name="/predict")
    assert "unique" not in status


def test_unique_ids_skip_a_name_the_input_already_uses():
    from space_input import unique_ids

    assert unique_ids(["a", "b"]) == (["a", "b"], "")
    ids, note = unique_ids(["a", "a", "a (2)", "a"])
    assert ids == ["a", "a (3)", "a (2)", "a (4)"]
    assert note == "ids repeated in the input were made unique: 'a (3)' is sequence 2; 'a (4)' is sequence 4"


def test_a_fine_tuned_folder_shows_the_test_metric_it_records(space, hub):
    cat, client = space
    test_acc = json.loads((hub / "ft1" / "metrics.json").read_text())["test"]["accuracy"]
    name = "ft1"
    expected = f"accuracy {test_acc:.3f} (one seed)"
    summary = cat.entry(name).summary()
    assert f"test {expected}" in summary and "no test metric" not in summary
    task = cat.entry(name).task
    compared = client.predict(task, "ACGT" * 25, None, api_name="/compare")
    column = compared["headers"].index("test metric")
    assert {r[column] for r in compared["data"]} == {expected}


def test_a_refused_default_names_the_option_before_serving(hub, tmp_path):
    env = {**os.environ, "GENOZOO_HUB_DIR": str(hub), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "zoo", "space", "--port", "0", "--device", "cpu",
                          "--default", f"{DEMO_TASK}=nosuch"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert f"--default {DEMO_TASK}=nosuch: model 'nosuch' is not offered for task {DEMO_TASK}; pick one of" \
        in run.stderr, run.stderr
    assert "serving" not in run.stdout and "Model list" not in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
