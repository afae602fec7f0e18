"""zoo.recipes: YAML + --key=value overrides that fail loudly, the run folder, evaluate, and the committed recipes."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine_tiny import tiny_benchmark
from zoo.checkpoint import load_weights
from zoo.cli import main
from zoo.errors import UserError
from zoo.recipes import evaluate_model, load_recipe, load_run_model, parse_overrides, run
from zoo.registry import create_model, study_kwargs

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "train" / "recipes").glob("*.yaml"))


def test_overrides_are_typed_and_unknown_keys_fail(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("arch: cnn_zeng_2_conv2d\ndataset: somewhere\nlr: 1e-3\nseeds: [0, 1]\n"
                    "model_args: {dropout: 0.4}\n")
    r = load_recipe(path, ["--lr=3e-4", "--epochs=5", "--patience=null", "--class_weights=balanced",
                           "--seeds=3,4", "--model_args.dropout=0.1", "--compile=false", "--tag=x"])
    assert (r.lr, r.epochs, r.patience, r.class_weights, r.seeds) == (3e-4, 5, None, "balanced", [3, 4])
    assert r.model_args == {"dropout": 0.1} and r.compile is False and r.name == "cnn_zeng_2_conv2d.x"
    assert load_recipe(path, ["--class_weights=[1, 2.5]"]).class_weights == [1.0, 2.5]
    assert isinstance(load_recipe(path).lr, float)  # YAML reads "1e-3" as a string; the type wins
    for bad, match in [("--epochs=2.5", "'epochs' must be int"), ("--epochs=many", "'epochs' must be int"),
                       ("--lr=fast", "'lr' must be float"), ("--lrate=1", "unknown recipe key 'lrate'.*'lr'"),
                       ("--seed=1", "unknown recipe key 'seed'"), ("--optimizer=rmsprop", "optimizer"),
                       ("epochs=3", "--key=value"), ("--lr.x=1", "has no sub-keys")]:
        with pytest.raises(UserError, match=match):
            load_recipe(path, [bad])
    (tmp_path / "binary.yaml").write_bytes(b"arch: a\n\xd0\xff\x00")  # a damaged file: it was a traceback
    with pytest.raises(UserError, match="is not UTF-8 text"):
        load_recipe(tmp_path / "binary.yaml")
    (tmp_path / "bad.yaml").write_text("arch: a\ndataset: b\nbatchsize: 3\n")
    with pytest.raises(UserError, match="unknown recipe key 'batchsize' in .*bad.yaml.*'batch_size'"):
        load_recipe(tmp_path / "bad.yaml")
    assert parse_overrides(["--source=null"]) == {"source": None}


def test_recipe_yaml_round_trip(tmp_path):
    r = load_recipe(None, ["--lr=0.01", "--model_args.dropout=0.4"], arch="cnn_zeng_2_conv2d", dataset="d", tag="t")
    (tmp_path / "r.yaml").write_text(r.to_yaml())
    assert load_recipe(tmp_path / "r.yaml") == r


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tiny_benchmark(n=200, length=40).save_to_disk(str(root / "tiny"))
    recipe = load_recipe(None, ["--epochs=2", "--quiet=true", "--lr=0.01"], arch="cnn_zeng_2_conv2d",
                         dataset=str(root / "tiny"))
    metrics = run(recipe, 3, root / "out")
    return root, recipe, metrics, root / "out" / "cnn_zeng_2_conv2d.tiny" / "seed3"


def test_run_folder_contents(finished):
    root, recipe, metrics, folder = finished
    names = {p.name for p in folder.iterdir()}
    assert {"recipe.yaml", "run.json", "metrics.json", "epochs.csv", "epochs.json", "model.safetensors",
            "config.json", "predictions_test.safetensors"} <= names
    assert "checkpoints" not in names  # the training state goes once the run has finished
    resolved = yaml.safe_load((folder / "recipe.yaml").read_text())
    assert resolved["seeds"] == [3] and resolved["encoding"]["kind"] == "kmer_image" and resolved["epochs"] == 2
    info = json.loads((folder / "run.json").read_text())
    assert info["seed"] == 3 and info["versions"]["torch"] and info["versions"]["scikit-learn"]
    assert info["git"]["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", info["git"]["commit"])
    assert set(metrics) >= {"train", "validation", "test", "best_epoch", "num_params"}
    assert set(metrics["test"]) == {"loss", "accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc", "auprc"}
    csv_lines = (folder / "epochs.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,lr,train_loss,train_accuracy,val_loss") and len(csv_lines) == 3


def test_evaluate_reproduces_run_metrics(finished, capsys):
    root, recipe, metrics, folder = finished
    again = evaluate_model(str(folder), str(root / "tiny"), "test", device="cpu")
    assert again == pytest.approx(metrics["test"])
    assert main(["evaluate", str(folder), "--dataset", str(root / "tiny"), "--split", "validation"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(metrics["validation"])
    model, _ = load_run_model(folder)
    assert set(load_weights(folder / "model.safetensors")) == set(model.state_dict())
    assert main(["evaluate", str(folder), "--dataset", str(root / "tiny"), "--split", "dev"]) == 2


def test_a_run_folder_predicts_and_is_explained_from_the_command_line(finished, tmp_path, capsys):
    """What `genozoo train` prints as its run folder is what predict and explain take (it once failed: its
    config.json names no architecture, the recipe beside it does)."""
    root, recipe, metrics, folder = finished
    seqs = ["ACGTAGGCTAGCTTAGCGGGATCGATCGTAGCTAGCTAGC", "TTGACCATGGCAACGTTGCAGGTACCGATTACAGGCATAA"]
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    assert main(["predict", str(folder), str(fasta), "-o", str(tmp_path / "out.csv"), "-q"]) == 0
    rows = (tmp_path / "out.csv").read_text().splitlines()
    model, _ = load_run_model(folder)
    expected = model.predict(seqs).probabilities
    got = [[float(v) for v in row.split(",")[1:-2]] for row in rows[1:]]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert main(["explain", str(folder), str(fasta), "--method", "ism", "--numbers", str(tmp_path / "a.csv")]) == 0
    assert (tmp_path / "a.csv").stat().st_size > 0
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    data = bytearray((damaged / "model.safetensors").read_bytes())
    at = data.index(b"weight")
    data[at:at + 6] = b"wxight"  # a tensor's name in the header: the file still parses
    (damaged / "model.safetensors").write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["predict", str(damaged), str(fasta), "-q"]) == 2
    assert "do not match the sha256" in capsys.readouterr().err
    assert main(["predict", str(damaged), str(fasta), "-q", "--allow-modified"]) == 2  # past the hash, then refused
    assert "wxight is in the file but not in the model" in capsys.readouterr().err


@pytest.mark.parametrize("override, says", [
    ("--model_args.nope=3", "unexpected keyword argument 'nope'"),
    ("--model_args.dropout=5", "dropout probability has to be between 0 and 1"),
    ("--model_args.filters=[0]", "an empty layer (features.0.weight)")])
def test_model_arguments_that_do_not_build_are_one_sentence_and_leave_no_run_folder(finished, tmp_path, capsys,
                                                                                    override, says):
    root = finished[0]
    out = tmp_path / "out"
    assert main(["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(root / "tiny"), "--epochs=1",
                 "--quiet", "--out", str(out), override]) == 2
    err = capsys.readouterr().err
    assert "genozoo: error: the recipe's model_args" in err and says in err and "Traceback" not in err
    assert not out.exists()


def test_a_model_that_is_not_a_classifier_is_refused_before_training(finished, tmp_path, capsys):
    root = finished[0]
    out = tmp_path / "out"
    # -q as on predict, explain and finetune (it was read as a malformed recipe override).
    assert main(["train", "--arch", "lstm_autoencoder", "--dataset", str(root / "tiny"), "--epochs=1", "-q",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "genozoo: error: lstm_autoencoder is not a classifier" in err and "Traceback" not in err, err
    assert not out.exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(finished, tmp_path, monkeypatch):
    root, recipe, _, _ = finished

    def fails(*args, **kwargs):
        raise MemoryError("out of memory in epoch 1")

    monkeypatch.setattr("zoo.recipes.fit", fails)
    with pytest.raises(MemoryError):
        run(recipe, 0, tmp_path / "out")
    assert not (tmp_path / "out" / "cnn_zeng_2_conv2d.tiny").exists()  # the retry is not blocked, nothing left


def test_existing_run_needs_resume(finished):
    root, recipe, metrics, folder = finished
    with pytest.raises(UserError, match="--resume"):
        run(recipe, 3, root / "out")
    assert run(recipe, 3, root / "out", resume=True) == metrics  # finished: returned, not retrained


def test_encoding_mismatch_and_missing_source_fail(finished):
    root = finished[0]
    from zoo.recipes import build_model, load_data

    ds = load_data(load_recipe(None, arch="cnn_zeng_2_conv2d", dataset=str(root / "tiny")))
    with pytest.raises(UserError, match="encoding"):
        build_model(load_recipe(None, ["--encoding={kind: tokens}"], arch="cnn_zeng_2_conv2d", dataset="x"), ds)
    with pytest.raises(UserError, match="--source=null"):
        load_data(load_recipe(None, ["--source=no/such/folder"], arch="cnn_zeng_2_conv2d", dataset="splice"))


def test_committed_recipes_are_generated_and_consistent():
    """Every (architecture, task) has its generated recipe; the study's 13 carry the study's settings."""
    from zoo.grid import STUDY_ARCHS

    sys.path.insert(0, str(ROOT / "train"))
    from make_recipes import EXTRA, TASKS

    assert sorted(p.name for p in RECIPES) == sorted(f"{a}.{t}.yaml" for a in [*STUDY_ARCHS, *EXTRA] for t in TASKS)
    check = subprocess.run([sys.executable, str(ROOT / "train" / "make_recipes.py"), "--check"],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    for path in RECIPES:
        r = load_recipe(path)
        assert path.name == f"{r.name}.yaml" and r.seeds == [0, 1, 2] and r.split
        model = create_model(r.arch, **study_kwargs(r.arch, r.task))
        assert r.encoding == model.encoding.to_dict()
        if r.arch in STUDY_ARCHS:
            assert r.lr == 1e-3 and r.optimizer == "adam" and r.epochs == 50
            small_ezh2 = r.tag == "motif_ezh2" and r.arch.startswith(("cnn_zeng", "cnn_deepdbp"))  # a stated exception
            assert r.batch_size == (64 if small_ezh2 else 512 if r.task == "motif" else 32)
            assert small_ezh2 == ("batch 64 on EZH2" in r.notes)


def test_train_real_splice_recipe_one_epoch(shared_data, tmp_path):
    """The published splice recipe runs on the real data (one epoch, the smallest model)."""
    recipe = ROOT / "train" / "recipes" / "cnn_zeng_2_conv2d.splice.yaml"
    code = main(["train", str(recipe), "--seed", "0", "--out", str(tmp_path), "--quiet", "--epochs=1",
                 f"--source={shared_data / 'splice'}"])
    assert code == 0
    m = json.loads((tmp_path / "cnn_zeng_2_conv2d.splice" / "seed0" / "metrics.json").read_text())
    assert m["epochs_run"] == 1 and 0.3 < m["test"]["accuracy"] <= 1
    assert sum(1 for _ in open(tmp_path / "cnn_zeng_2_conv2d.splice" / "seed0" / "epochs.csv")) == 2


def test_overrides_take_a_space_as_well_as_an_equals_sign(finished, tmp_path):
    """`genozoo train ... --epochs 1`, as every other option is written, was refused (or its 1 read as the recipe)."""
    root = finished[0]
    out = tmp_path / "out"
    assert main(["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(root / "tiny"), "--epochs", "1",
                 "--lr", "0.01", "--model_args.dropout", "0.3", "--seed", "0", "--quiet", "--out", str(out)]) == 0
    resolved = yaml.safe_load((out / "cnn_zeng_2_conv2d.tiny" / "seed0" / "recipe.yaml").read_text())
    assert (resolved["epochs"], resolved["lr"], resolved["model_args"]["dropout"]) == (1, 0.01, 0.3)
    assert main(["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", str(root / "tiny"), "--epochs"]) == 2
