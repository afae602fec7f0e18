"""Findings of the contract hunt (odd option values, edge inputs, corrupted folders): each runs the real command
line in a child process on real files, and checks the contract: bad input is one sentence and exit status 2, an
environment failure one sentence and exit status 1, never a traceback, and nothing half-written left behind."""
from __future__ import annotations

import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys

import pytest
import torch

from use_models import ROOT, run_cli, tiny_saved_model


def _refused(out, status: int = 2) -> str:
    assert out.returncode == status, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("genozoo"), lines[0]
    return lines[0]


def _data(path, rows: int = 40, length: int = 60, labels=("0", "1")) -> None:
    rng = random.Random(0)
    text = "id,sequence,label\n" + "".join(
        f"r{i},{''.join(rng.choice('ACGT') for _ in range(length))},{labels[i % len(labels)]}\n" for i in range(rows))
    path.write_text(text)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("hunt")
    tiny_saved_model(root / "tiny", 60, ["neg", "pos"])
    _data(root / "train.csv")
    (root / "in.fa").write_text("".join(f">s{i}\n{'ACGT' * 15}\n" for i in range(5)))
    return root


@pytest.fixture(scope="module")
def finetuned(work):
    out = run_cli("finetune", work / "tiny", "--data", work / "train.csv", "--epochs", "1", "-q", "-o",
                  work / "ft_ok", cwd=work)
    assert out.returncode == 0, out.stderr
    return work / "ft_ok"


# ------------------------------------------------------------------------------------- 4: predict -o extension
@pytest.mark.parametrize("name, delimiter, compressed", [("p.csv", ",", False), ("p.tsv", "\t", False),
                                                         ("p.txt", "\t", False), ("p.csv.gz", ",", True),
                                                         ("p.tsv.gz", "\t", True)])
def test_predict_output_follows_its_extension(work, tmp_path, name, delimiter, compressed):
    out = run_cli("predict", work / "tiny", work / "in.fa", "-o", tmp_path / name, "-q")
    assert out.returncode == 0, out.stderr
    raw = (tmp_path / name).read_bytes()
    assert raw[:2] == b"\x1f\x8b" if compressed else raw[:2] != b"\x1f\x8b"
    text = gzip.decompress(raw).decode() if compressed else raw.decode()
    lines = text.splitlines()
    assert lines[0] == delimiter.join(["id", "prob_neg", "prob_pos", "predicted", "flag"])
    assert len(lines) == 6 and all(len(line.split(delimiter)) == 5 for line in lines)
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left beside it


def test_predict_refuses_an_extension_it_does_not_write(work, tmp_path):
    line = _refused(run_cli("predict", work / "tiny", work / "in.fa", "-o", tmp_path / "p.json"))
    assert ".json" in line and ".csv" in line and ".tsv" in line and ".gz" in line
    assert not os.listdir(tmp_path)


def test_predict_stdout_stays_csv(work):
    out = run_cli("predict", work / "tiny", work / "in.fa", "-q")
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "id,prob_neg,prob_pos,predicted,flag"


# --------------------------------------------------------------------------------------------- 6: empty output
@pytest.mark.parametrize("argv", [
    ["predict", "{tiny}", "{in}", "-o", ""],
    ["explain", "{tiny}", "ACGT" * 15, "--numbers", ""],
    ["finetune", "{tiny}", "--data", "{train}", "--epochs", "1", "-q", "-o", ""],
    ["train", "--arch", "deepram_conv1d_onehot", "--dataset", "{train}", "--out", "", "-q", "--epochs=1"],
    ["bakeoff", "--data", "{train}", "--models", "deepram_conv1d_onehot.motif_ctcf", "--epochs", "1", "--seeds",
     "1", "-q", "-o", ""],
], ids=["predict", "explain", "finetune", "train", "bakeoff"])
def test_an_empty_output_path_is_refused(work, tmp_path, argv):
    values = {"{tiny}": str(work / "tiny"), "{in}": str(work / "in.fa"), "{train}": str(work / "train.csv")}
    line = _refused(run_cli(*[values.get(a, a) for a in argv], cwd=tmp_path))
    assert "empty" in line
    assert not os.listdir(tmp_path)  # nothing written into the current folder


def test_the_python_api_refuses_an_empty_output_folder(work):
    from zoo.errors import UserError
    from zoo.outputs import check_output_folder

    with pytest.raises(UserError, match="empty"):
        check_output_folder("")


# ------------------------------------------------------------------------------------------------- 7: --device
def _absent_devices() -> list[str]:
    absent = [] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else ["mps"]
    absent.append(f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}")
    return absent


@pytest.mark.parametrize("device", _absent_devices())
@pytest.mark.parametrize("command", ["predict", "explain", "finetune"])
def test_an_absent_device_is_refused_before_any_work(work, tmp_path, device, command):
    argv = {"predict": ["predict", work / "tiny", work / "in.fa", "-o", tmp_path / "p.csv"],
            "explain": ["explain", work / "tiny", "ACGT" * 15, "--numbers", tmp_path / "n.csv"],
            "finetune": ["finetune", work / "tiny", "--data", work / "train.csv", "-o", tmp_path / "ft"]}[command]
    line = _refused(run_cli(*argv, "--device", device))
    assert repr(device) in line and "--device" in line
    assert not os.listdir(tmp_path)


def test_finetune_api_refuses_an_absent_device(work, tmp_path):
    from zoo.errors import UserError
    from zoo.finetune import finetune

    with pytest.raises(UserError, match="device"):
        finetune(str(work / "tiny"), str(work / "train.csv"), tmp_path / "ft", device=_absent_devices()[-1])
    assert not os.listdir(tmp_path)


# ------------------------------------------------------------------------------ 8, 16: --label-names checks
@pytest.mark.parametrize("command", ["finetune", "report"])
def test_duplicate_label_names_are_refused(work, tmp_path, command):
    argv = ["finetune", work / "tiny", "--data", work / "train.csv", "--epochs", "1", "-q", "-o", tmp_path / "ft"] \
        if command == "finetune" else ["data", "report", "--data", work / "train.csv"]
    line = _refused(run_cli(*argv, "--label-names", "a,a"))
    assert "'a'" in line and "more than once" in line
    assert not os.listdir(tmp_path)


def test_label_names_must_count_the_data_classes(work, tmp_path):
    line = _refused(run_cli("finetune", work / "tiny", "--data", work / "train.csv", "--epochs", "1", "-q",
                            "-o", tmp_path / "ft", "--label-names", "a,b,c"))
    assert "3 names" in line and "2 classes" in line
    assert not os.listdir(tmp_path)


def test_the_right_number_of_label_names_is_fine(work, tmp_path):
    out = run_cli("finetune", work / "tiny", "--data", work / "train.csv", "--epochs", "1", "-q",
                  "-o", tmp_path / "ft", "--label-names", "no,yes")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["label_names"] == ["no", "yes"]


# -------------------------------------------------------------------------------------- 9: output is the input
@pytest.mark.parametrize("how", ["same path", "hard link", "symbolic link"])
def test_predict_refuses_an_output_that_is_its_input(work, tmp_path, how):
    source = tmp_path / "seqs.csv"
    source.write_text("id,sequence\n" + "".join(f"s{i},{'ACGT' * 15}\n" for i in range(3)))
    before = source.read_bytes()
    target = source
    if how == "hard link":
        os.link(source, target := tmp_path / "other.csv")
    elif how == "symbolic link":
        os.symlink(source, target := tmp_path / "other.csv")
    line = _refused(run_cli("predict", work / "tiny", source, "-o", target))
    assert "input" in line
    assert source.read_bytes() == before


def test_explain_refuses_numbers_over_its_input(work, tmp_path):
    source = tmp_path / "seqs.csv"
    source.write_text(f"id,sequence\ns0,{'ACGT' * 15}\n")
    before = source.read_bytes()
    _refused(run_cli("explain", work / "tiny", source, "--numbers", source))
    assert source.read_bytes() == before


# ----------------------------------------------------------------------------- 10: a failed write of the model
def test_finetune_that_cannot_write_its_weights_is_one_sentence(work, tmp_path):
    """A file-size limit (ulimit -f) makes safetensors' write fail as a full disk does: the environment's one
    sentence naming --output, exit 1, and no folder or temporary file left."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    big = tmp_path / "big"
    torch.manual_seed(0)
    import zoo
    from zoo import hub

    model = zoo.create_model("deepram_conv1d_onehot", num_classes=2, seq_len=60, conv_filters=[64, 64], dense=64,
                             label_names=["neg", "pos"])
    hub.save_model(model, big, card=False)
    assert (big / "model.safetensors").stat().st_size > 40_000
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    out = subprocess.run([sys.executable, "-m", "zoo", "finetune", str(big), "--data", str(work / "train.csv"),
                          "--epochs", "1", "-q", "-o", str(tmp_path / "new" / "ft")], env=env, capture_output=True,
                         text=True, timeout=300, preexec_fn=limit)
    line = _refused(out, status=1)
    assert line.startswith(f"genozoo: error: cannot write {str(tmp_path / 'new' / 'ft')!r}"), line
    assert sorted(os.listdir(tmp_path)) == ["big"]


def test_a_safetensors_disk_full_error_is_an_os_error(tmp_path):
    from safetensors import SafetensorError

    from zoo.errors import write_failure
    from zoo.hub.folders import _as_os_error

    err = _as_os_error(SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
                       tmp_path / "model.safetensors")
    assert isinstance(err, OSError) and err.errno == 28
    assert "no space left" in str(write_failure(err, tmp_path))


# ------------------------------------------------------------------------------------------- 11: --base-model
@pytest.mark.parametrize("value", ["", "notarepo", "a/b/c"])
def test_base_model_must_be_a_repo_id(work, tmp_path, value):
    line = _refused(run_cli("finetune", work / "tiny", "--data", work / "train.csv", "--epochs", "1", "-q",
                            "-o", tmp_path / "ft", "--base-model", value))
    assert "ORG/NAME" in line
    assert not os.listdir(tmp_path)


# --------------------------------------------------------------------------------------------- 13: card --name
@pytest.mark.parametrize("name", ["cnn_nguyen_2_conv2d.splice", "deepram_conv1d_onehot.motif_ctcf"])
def test_card_refuses_another_models_record(finetuned, name):
    before = (finetuned / "README.md").read_bytes()
    line = _refused(run_cli("card", finetuned, "--name", name))
    assert repr(name) in line
    assert (finetuned / "README.md").read_bytes() == before


def test_card_of_its_own_record_still_renders(finetuned):
    out = run_cli("card", finetuned)
    assert out.returncode == 0, out.stderr


# -------------------------------------------------------------------------------- 22: label names of evaluation
def test_match_label_names():
    from zoo.data.user import match_label_names
    from zoo.errors import UserError

    assert match_label_names(["EI", "IE", "N"], ["EI", "IE", "N"]) is None
    assert match_label_names(["N", "EI", "IE"], ["EI", "IE", "N"]) == [2, 0, 1]
    with pytest.raises(UserError, match="A, B, C.*EI, IE, N"):
        match_label_names(["A", "B", "C"], ["EI", "IE", "N"], "train60.csv")


# ------------------------------------------------------------------------------ 23: config.json field types
@pytest.mark.parametrize("field, value", [("arch", 5), ("arch", ["deepram_conv1d_onehot"]), ("name", 7),
                                          ("encoding", "onehot"), ("label_names", [[1], [2]]),
                                          ("label_names", ["a", "a"])])
def test_a_config_field_of_the_wrong_type_is_one_sentence(work, tmp_path, field, value):
    folder = tmp_path / "m"
    shutil.copytree(work / "tiny", folder)
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    for command in (["predict", folder, work / "in.fa"], ["explain", folder, "ACGT" * 15, "--numbers",
                                                         tmp_path / "n.csv"]):
        line = _refused(run_cli(*command))
        assert "config.json" in line and repr(field) in line, line


# ------------------------------------------------------------------------ 2, 3, 22: evaluate a folder, its data
def test_evaluate_takes_a_model_folder_and_maps_labels_by_name(finetuned, work, tmp_path):
    """`genozoo evaluate` loads what `genozoo predict` loads (a fine-tune's folder here), scores data whose labels
    are the model's classes in another order by name, and refuses other classes in one sentence."""
    names = json.loads((finetuned / "config.json").read_text())["label_names"]
    rng = random.Random(1)
    rows = [("".join(rng.choice("ACGT") for _ in range(60)), names[i % 2]) for i in range(30)]
    same = tmp_path / "same.csv"
    same.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    swapped = tmp_path / "swapped.csv"  # the second class first: ClassLabel names in another order
    swapped.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in reversed(rows)))
    scores = []
    for data in (same, swapped):
        out = run_cli("evaluate", finetuned, "--dataset", data, "--split", "train", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        scores.append(json.loads(out.stdout)["accuracy"])
    assert scores[0] == pytest.approx(scores[1])
    other = tmp_path / "other.csv"
    other.write_text("sequence,label\n" + "".join(f"{s},{'AB'[i % 2]}\n" for i, (s, _) in enumerate(rows)))
    line = _refused(run_cli("evaluate", finetuned, "--dataset", other, "--split", "train", cwd=tmp_path))
    assert "has the classes A, B but" in line and ", ".join(names) in line, line


def test_a_source_of_null_downloads_and_an_unknown_device_is_refused(work, tmp_path):
    """`--source=null` means "download" wherever a source is read (it was itself refused as a missing path), and a
    device name the engine cannot use is one sentence, not torch's traceback."""
    from zoo.recipes import _source

    assert _source("null") is None and _source("None") is None and _source("") is None
    line = _refused(run_cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", work / "train.csv",
                            "--epochs=1", "--device=foo", "--out", tmp_path / "t", cwd=tmp_path))
    assert "device 'foo' is not understood" in line, line
    assert not (tmp_path / "t").exists()


def test_explain_of_an_all_n_sequence_names_no_strongest_position(work, tmp_path):
    """Every attribution of an all-N sequence is 0: the summary says no position stands out (it named position 1)."""
    out = run_cli("explain", work / "tiny", "N" * 60, "-o", tmp_path / "n.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "no position stands out (every attribution is 0)" in text and "strongest position" not in text, text
    assert "ylim" not in text, text


def test_card_refuses_an_empty_record_name(finetuned):
    line = _refused(run_cli("card", finetuned, "--name", ""))
    assert "--name" in line and "must be letters, digits" in line, line


def test_push_of_a_folder_that_does_not_exist_says_so(tmp_path):
    line = _refused(run_cli("push", tmp_path / "nonexist", "--repo", "a/b", cwd=tmp_path))
    assert "does not exist" in line and "has no model.safetensors" not in line, line


def test_list_shows_what_builds_at_a_geometry_and_info_says_why_not():
    """`list --seq-len 1` lists every architecture, marking those that cannot be built that short (it failed whole
    on the first); `info` of one of them is one sentence (doc2vec's was a ValueError traceback); the geometry
    options are refused with --pretrained, which they did not affect."""
    out = run_cli("list", "--seq-len", "1")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "cannot be built at this geometry" in out.stdout and "lstm_baseline" in out.stdout, out.stdout
    line = _refused(run_cli("info", "doc2vec_mlp", "--seq-len", "1"))
    assert "do not build 'doc2vec_mlp': k must be between 1 and seq_len (1)" in line, line
    line = _refused(run_cli("list", "--pretrained", "--geometry", "motif"))
    assert "--geometry" in line and "--pretrained" in line, line


@pytest.mark.parametrize("extra, message", [
    (["--label-map", ""], "--label-map is empty"),
    (["--from-scratch", "--model-args", "[]"], "--model-args must be a JSON object"),
    (["--from-scratch", "--compare-scratch"], "with --from-scratch there is nothing to compare")])
def test_finetune_options_that_would_do_nothing_are_refused(work, tmp_path, extra, message):
    line = _refused(run_cli("finetune", work / "tiny", "--data", work / "train.csv", "--epochs", "1", "-q", "-o",
                            tmp_path / "ft", *extra, cwd=tmp_path))
    assert message in line, line
    assert not (tmp_path / "ft").exists()
