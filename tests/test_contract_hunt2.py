"""The second contract hunt (odd option values, edge inputs, full disks), each finding through the real command line:
bad input is one sentence and exit 2, an environment failure one sentence and exit 1, never a traceback, and
nothing half-written is left behind. Numbers refer to the hunt's findings."""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_RECORDS = ROOT / "zoo" / "pretrained.json"
BASE = "deepram_conv1d_onehot.motif_ctcf"  # a published 101 bp weight: fine-tunes in about a second


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    for key in ("GENOZOO_PRETRAINED", "GENOZOO_HUB_DIR", "GENOZOO_THREADS"):
        env.pop(key, None)
    env.update(extra)
    return env


def cli(*args, cwd: Path, env: dict | None = None, timeout: int = 300, preexec_fn=None
        ) -> subprocess.CompletedProcess:
    """``genozoo ARGS`` in a child process, run from ``cwd``."""
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], cwd=cwd, env=env or _env(),
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn)


def one_sentence(out: subprocess.CompletedProcess, status: int) -> str:
    assert out.returncode == status, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with train.csv: 60 random 101 bp sequences, labels 0/1 (the hunt's data)."""
    root = tmp_path_factory.mktemp("hunt2")
    rng = random.Random(0)
    rows = ["sequence,label"] + [f"{''.join(rng.choice('ACGT') for _ in range(101))},{i % 2}" for i in range(60)]
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def run_folder(work) -> Path:
    """A finished `genozoo train` run on the user's own file (one epoch)."""
    out = cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", "train.csv", "--out", "runs", "--seed", "0",
              "--epochs=1", "-q", cwd=work)
    assert out.returncode == 0, out.stderr
    (folder,) = (work / "runs").glob("*/seed0")
    return folder


# ------------------------------------------------------------------------------------------------- 1
def _file_size_limit(limit: int):
    def apply() -> None:  # a file-size limit: writing past it fails with EFBIG, as a full disk fails with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_1_bakeoff_refuses_an_earlier_bakeoff_and_writes_all_or_nothing(work):
    bake = ["bakeoff", "--data", "train.csv", "--models", BASE, "--epochs", "1", "-q", "--threads", "1"]
    first = cli(*bake, "--seeds", "1", "-o", "bo", cwd=work)
    assert first.returncode == 0, first.stderr
    files = ["bakeoff.png", "leaderboard.md", "recommendation.md", "results.csv"]
    assert sorted(p.name for p in (work / "bo").iterdir()) == files
    before = _digest(work / "bo")

    again = cli(*bake, "--seeds", "1", "-o", "bo", cwd=work)  # the default -o: a second run lost the first
    line = one_sentence(again, 2)
    assert "'bo' already holds a bake-off" in line and "--overwrite" in line
    assert _digest(work / "bo") == before

    # The disk fills while the report is written (bakeoff.png is the last and largest): no new file, the old set.
    full = cli(*bake, "--seeds", "2", "-o", "bo", "--overwrite", cwd=work, preexec_fn=_file_size_limit(8000))
    line = one_sentence(full, 1)
    assert "bakeoff.png" in line
    assert _digest(work / "bo") == before  # nothing replaced, no temporary file left
    fresh = cli(*bake, "--seeds", "2", "-o", "new/bo", cwd=work, preexec_fn=_file_size_limit(8000))
    one_sentence(fresh, 1)
    assert not (work / "new").exists()  # not even the folders it would have made

    replaced = cli(*bake, "--seeds", "2", "-o", "bo", "--overwrite", cwd=work)
    assert replaced.returncode == 0, replaced.stderr
    after = _digest(work / "bo")
    assert sorted(after) == files and after["results.csv"] != before["results.csv"]


# ------------------------------------------------------------------------------------------------- 5, 25
def _space(*args, cwd: Path) -> subprocess.CompletedProcess:
    return cli("space", "--threads", "1", *args, cwd=cwd, timeout=120)


def test_5_space_refuses_a_port_in_use_and_a_bad_host_in_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        line = one_sentence(_space("--port", port, cwd=tmp_path), 1)
        assert f"port {port} is in use" in line and "--port" in line
        assert time.monotonic() - t0 < 60  # refused before the models load
    for host in ("8.8.8.8", "nothost.invalid"):  # not an address of this machine; a name that never resolves
        line = one_sentence(_space("--host", host, "--port", "0", cwd=tmp_path), 2)
        assert f"--host {host!r}" in line and "port" not in line.split(";")[0]


def test_25_space_hub_dir_and_empty_host_are_checked(tmp_path):
    (tmp_path / "afile").write_text("x")
    for value, why in (("nonexist", "does not exist"), ("afile", "is not a folder")):
        line = one_sentence(_space("--hub-dir", value, cwd=tmp_path), 2)
        assert f"--hub-dir {value!r} {why}" in line
    env = _env(GENOZOO_HUB_DIR=str(tmp_path / "nonexist"))
    line = one_sentence(cli("space", "--threads", "1", cwd=tmp_path, env=env, timeout=120), 2)
    assert "GENOZOO_HUB_DIR" in line and "does not exist" in line
    line = one_sentence(_space("--host", "", cwd=tmp_path), 2)
    assert "--host is empty" in line


def test_25_space_port_0_serves_on_a_free_port_and_says_which(tmp_path):
    child = subprocess.Popen([sys.executable, "-m", "zoo", "space", "--port", "0", "--threads", "1"], cwd=tmp_path,
                             env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline()
        port = int(re.search(r"serving http://127\.0\.0\.1:(\d+)", first).group(1))
        assert port not in (0, 7860)
        ready = child.stdout.readline()
        assert f"ready at http://127.0.0.1:{port}/" in ready, ready + child.stderr.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 0


# ------------------------------------------------------------------------------------------------- 12
def test_12_publish_into_another_hub_leaves_the_package_records_alone(run_folder, work):
    runs = run_folder.parents[1]
    original = PACKAGE_RECORDS.read_bytes()
    try:
        out = cli("publish", runs, "--hub", "otherhub", "-q", cwd=work)
        assert out.returncode == 0, out.stderr
        assert PACKAGE_RECORDS.read_bytes() == original
        (record,) = json.loads((work / "otherhub" / "pretrained.json").read_text())["models"]
        name = f"{record['arch']}.{record['tag']}"
        assert (work / "otherhub" / "genozoo" / name / "model.safetensors").is_file()
        assert "otherhub/pretrained.json" in out.stdout and "GENOZOO_PRETRAINED=" in out.stdout
        # The records go with their hub: pointed at both, the zoo verifies the new model offline.
        env = _env(GENOZOO_HUB_DIR=str(work / "otherhub"), GENOZOO_PRETRAINED=str(work / "otherhub" /
                                                                                 "pretrained.json"))
        verify = cli("verify", name, cwd=work, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        listed = cli("list", "--pretrained", cwd=work)
        assert listed.returncode == 0 and name not in listed.stdout  # the installed zoo does not list it

        line = one_sentence(cli("publish", "/nonexist", "-q", cwd=work), 2)
        assert "'/nonexist' does not exist" in line
        (work / "empty").mkdir()
        line = one_sentence(cli("publish", "empty", "-q", cwd=work), 2)
        assert "no finished runs" in line
        line = one_sentence(cli("publish", runs, "--hub", "hub3", "--readme", "nonexist.md", "-q", cwd=work), 2)
        assert "--readme 'nonexist.md'" in line and not (work / "hub3").exists()  # refused before writing
        line = one_sentence(cli("publish", runs, "--hub", "hub4", "--org", "", "-q", cwd=work), 2)
        assert "--org is empty" in line and not (work / "hub4").exists()
    finally:
        if PACKAGE_RECORDS.read_bytes() != original:
            PACKAGE_RECORDS.write_bytes(original)


# ------------------------------------------------------------------------------------------------- 14
@pytest.mark.parametrize("protocol", ["default", "foo", ""])
def test_14_evaluate_protocol_on_own_files_is_one_sentence(run_folder, work, protocol):
    line = one_sentence(cli("evaluate", run_folder, "--protocol", protocol, cwd=work), 2)
    assert "--protocol applies to benchmarks only" in line


# ------------------------------------------------------------------------------------------------- 15
def test_15_a_diverging_run_stops_with_one_sentence_and_leaves_nothing(work):
    out = cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", "train.csv", "--out", "diverged", "-q",
              "--seed", "0", "--epochs=3", "--optimizer=sgd", "--lr=10", "--momentum=1", cwd=work)
    line = one_sentence(out, 2)
    assert re.search(r"training diverged at epoch \d+ \(loss is NaN\); lower the learning rate", line), line
    assert not (work / "diverged").exists()  # not the run folder, its arch.tag folder, nor --out
    out = cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", "train.csv", "--out", "diverged2", "-q",
              "--seed", "0", "--epochs=1", "--lr=1e9", cwd=work)  # the hunt's command: refused as finetune's --lr
    assert "lr must be a number above 0 and at most 10" in one_sentence(out, 2)
    assert not (work / "diverged2").exists()


# ------------------------------------------------------------------------------------------------- 17
@pytest.mark.parametrize("value", ["100000", "4097"])
def test_17_genozoo_threads_is_range_checked(tmp_path, value):
    out = cli("verify", BASE, cwd=tmp_path, env=_env(GENOZOO_THREADS=value), timeout=120)
    line = one_sentence(out, 2)  # it was a libgomp failure or a segfault (status 139)
    assert line.startswith("genozoo: error: GENOZOO_THREADS must be") and "4,096" in line and repr(value) in line


# ------------------------------------------------------------------------------------------------- 19
def test_19_bakeoff_refuses_repeated_seeds_and_too_few_training_rows(work):
    bake = ["bakeoff", "--data", "train.csv", "--models", BASE, "--epochs", "1", "-q"]
    line = one_sentence(cli(*bake, "--seeds", "0,0", "-o", "bo19", cwd=work), 2)
    assert "--seeds" in line and "repeats a seed" in line
    line = one_sentence(cli(*bake, "--seeds", "1", "--max-train", "1", "-o", "bo19", cwd=work), 2)
    assert "--max-train 1" in line and "at least 2" in line  # one row of each of the two classes
    assert not (work / "bo19").exists()


# ------------------------------------------------------------------------------------------------- 20
@pytest.mark.parametrize("override,key", [("--epochs=1e9", "epochs"), ("--patience=0", "patience"),
                                          ("--patience=-1", "patience"), ("--weight_decay=-1", "weight_decay"),
                                          ("--weight_decay=nan", "weight_decay"), ("--batch_size=1e12", "batch_size"),
                                          ("--lr=11", "lr")])
def test_20_train_overrides_are_range_checked_like_finetune_options(work, override, key):
    out = cli("train", "--arch", "deepram_conv1d_onehot", "--dataset", "train.csv", "--out", "tr20", "-q",
              "--seed", "0", override, cwd=work)
    line = one_sentence(out, 2)
    assert line.startswith(f"genozoo: error: {key} must be"), line
    assert not (work / "tr20").exists()


# ------------------------------------------------------------------------------------------------- 26
def test_26_data_list_unknown_family_and_report_without_arguments(tmp_path):
    line = one_sentence(cli("data", "list", "--family", "foo", cwd=tmp_path), 2)
    assert "--family 'foo'" in line and all(f in line for f in ("study", "gue", "gb", "nt", "motif"))
    ok = cli("data", "list", "--family", "gue", cwd=tmp_path)
    assert ok.returncode == 0 and "gue" in ok.stdout
    line = one_sentence(cli("data", "report", cwd=tmp_path), 2)
    assert "not both" not in line and "benchmark NAME" in line and "--data" in line
