"""The one error rule below the text level (issue #22): decoding, OS errors, outputs, option ranges, explain's
input rule, weights and config.json checks. Most cases run the command line in process (``zoo.cli.main``); the
ones about signals, pipes and devices run it as a child process."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import warnings

import pytest

from use_models import ROOT, cli_in_process, tiny_saved_model

GOOD = "ACGT" * 15
FASTA = "".join(f">s{i}\n{GOOD[i:] + GOOD[:i]}\n" for i in range(8))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_saved_model(tmp_path_factory.mktemp("hardening") / "model", 60, ["absent", "present"])


cli = cli_in_process


def one_sentence(rc, err, status=2) -> str:
    assert rc == status, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _default_sigint() -> None:
    # A suite started in the background by a shell inherits SIGINT ignored, and Python then keeps ignoring it:
    # the child gets the default disposition back, as it has when a user runs genozoo in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child(*argv, text=True, **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "zoo", *map(str, argv)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text,
                            preexec_fn=_default_sigint, **kw)


# ------------------------------------------------------------------------------------------------ decoding
def _predictions(model_dir, path):
    rc, out, err = cli("predict", model_dir, path, "-q")
    assert rc == 0, err
    return out


@pytest.mark.parametrize("variant", ["utf-8-bom", "utf-16", "utf-16-be", "cr", "crlf", "gzip", "gzip-utf-16"])
def test_every_encoding_and_line_ending_gives_the_same_predictions(variant, model_dir, tmp_path):
    plain = tmp_path / "plain.fa"
    plain.write_text(FASTA)
    data = {"utf-8-bom": b"\xef\xbb\xbf" + FASTA.encode(), "utf-16": FASTA.encode("utf-16"),
            "utf-16-be": b"\xfe\xff" + FASTA.encode("utf-16-be"), "cr": FASTA.replace("\n", "\r").encode(),
            "crlf": FASTA.replace("\n", "\r\n").encode(), "gzip": gzip.compress(FASTA.encode()),
            "gzip-utf-16": gzip.compress(FASTA.encode("utf-16"))}[variant]
    other = tmp_path / "other.fa"
    other.write_bytes(data)
    assert _predictions(model_dir, other) == _predictions(model_dir, plain)


def test_damaged_and_binary_input_is_refused_before_any_output(model_dir, tmp_path):
    whole = gzip.compress((FASTA * 200).encode())
    cases = {"truncated.fa.gz": (whole[: len(whole) - 300], "damaged gzip file: truncated"),
             "corrupt.fa.gz": (whole[:40] + bytes(b ^ 0x5A for b in whole[40:80]) + whole[80:], "damaged gzip"),
             "binary.fa": (bytes(range(256)) * 4, "is not UTF-8 text"),
             "badutf16.fa": (b"\xff\xfe" + FASTA.encode("utf-16-le")[:-1] + b"\x00\xd8", "is not UTF-16 text")}
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        for command in (["predict", model_dir, name], ["explain", model_dir, name, "--numbers", "n.csv"],
                        ["data", "report", "splice", "--source", name]):
            rc, out, err = cli(*command, cwd=tmp_path)
            line = one_sentence(rc, err)
            # The splice loader reads UCI lines; the bad UTF-16 tail comes after a first line it already refuses.
            assert expected in line or (name == "badutf16.fa" and command[0] == "data"), (name, command, err)
            assert out == "" and not (tmp_path / "n.csv").exists()  # not even a CSV header on stdout


def test_binary_standard_input_is_one_sentence(model_dir):
    p = child("predict", model_dir, "-", text=False)
    out, err = p.communicate(b">x\n" + bytes(range(128, 256)), timeout=120)
    assert p.returncode == 2 and b"is not UTF-8 text" in err and out == b"", err


def test_csv_fields_of_any_length(model_dir, tmp_path):
    (tmp_path / "long.csv").write_text("id,sequence\nchr,%s\nshort,%s\n" % ("ACGT" * 60_000, GOOD))
    rc, out, err = cli("predict", model_dir, "long.csv", "--max-length", "300000", "-q", cwd=tmp_path)
    assert rc == 0, err
    assert [r.split(",")[0] for r in out.splitlines()[1:]] == ["chr", "short"]
    rc, out, err = cli("finetune", model_dir, "--data", "long.csv", "-o", "ft", cwd=tmp_path)
    assert "Traceback" not in err and rc == 2  # no labels: a sentence about the data, not a csv error


# --------------------------------------------------------------------------------------------- OS errors
def test_output_under_a_file_or_onto_a_folder(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    assert "is not a folder" in one_sentence(*cli("predict", model_dir, "in.fa", "-o", "afile/p.csv",
                                                  cwd=tmp_path)[::2])
    assert "is a folder" in one_sentence(*cli("predict", model_dir, "in.fa", "-o", "adir", cwd=tmp_path)[::2])
    assert "not a folder" in one_sentence(*cli("finetune", model_dir, "--data", "in.fa", "-o", "afile",
                                               cwd=tmp_path)[::2])
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_is_an_environment_failure_and_the_device_stays(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    line = one_sentence(*cli("predict", model_dir, "in.fa", "-o", "/dev/full", cwd=tmp_path)[::2], status=1)
    assert "'/dev/full'" in line and "no space left" in line
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.fixture()
def unprivileged(model_dir):
    """Run the CLI as a user that file permissions apply to: the test user itself, or ``nobody`` (through
    ``setpriv``) when the tests run as root, as CI does. Yields ``(run, folder, model)``: ``run(*argv)`` returns
    ``(status, stdout, stderr)`` with ``folder`` (world-readable, the user's own files) as its working folder."""
    import tempfile

    root = os.geteuid() == 0
    if root and not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is missing, so permissions cannot apply")
    folder = tempfile.mkdtemp(prefix="genozoo-perm-")
    os.chmod(folder, 0o777)
    model = os.path.join(folder, "model")
    shutil.copytree(model_dir, model)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)

    def run(*argv):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
               "HOME": folder, "HF_HOME": os.path.join(folder, ".hf"), "MPLCONFIGDIR": os.path.join(folder, ".mpl")}
        cmd = [sys.executable, "-m", "zoo", *map(str, argv)]
        if root:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        p = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=300)
        return p.returncode, p.stdout, p.stderr

    if root and run("--version")[0] != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("user nobody cannot read this checkout or its Python, so permissions cannot be tested as root")
    try:
        yield run, folder, model
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_permissions_are_environment_failures(unprivileged):
    run, folder, model = unprivileged
    for name in ("in.fa", "secret.fa"):
        with open(os.path.join(folder, name), "w") as fh:
            fh.write(FASTA)
        os.chmod(os.path.join(folder, name), 0o644)
    os.chmod(os.path.join(folder, "secret.fa"), 0)
    os.mkdir(os.path.join(folder, "ro"), 0o555)
    os.chmod(os.path.join(folder, "ro"), 0o555)
    assert "permission denied" in one_sentence(*run("predict", model, "secret.fa")[::2], 1)
    assert "permission denied" in one_sentence(*run("predict", model, "in.fa", "-o", "ro/p.csv")[::2], 1)
    assert os.listdir(os.path.join(folder, "ro")) == []  # nothing half-written


# ------------------------------------------------------------------------------------------------ outputs
def test_a_symlink_output_is_followed(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    rc, _, err = cli("predict", model_dir, "in.fa", "-o", "link.csv", "-q", cwd=tmp_path)
    assert rc == 0, err
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "real.csv").read_text().startswith("id,")


def test_a_fifo_output_is_written_through(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    rc, _, err = cli("predict", model_dir, "in.fa", "-o", fifo, "-q", cwd=tmp_path)
    reader.join(60)
    assert rc == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and got and got[0].count("\n") == 9  # header + 8 rows


def test_a_read_only_file_is_not_replaced(unprivileged):
    run, folder, model = unprivileged
    with open(os.path.join(folder, "in.fa"), "w") as fh:
        fh.write(FASTA)
    os.chmod(os.path.join(folder, "in.fa"), 0o644)
    keep = os.path.join(folder, "keep.csv")
    with open(keep, "w") as fh:
        fh.write("mine")
    os.chmod(keep, 0o444)
    assert "permission denied" in one_sentence(*run("predict", model, "in.fa", "-o", "keep.csv")[::2], 1)
    with open(keep) as fh:
        assert fh.read() == "mine"


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_remove_temporary_files(sig, status, model_dir, tmp_path):
    big = tmp_path / "big.fa"
    big.write_text("".join(f">r{i}\n{GOOD}\n" for i in range(300_000)))
    p = child("predict", model_dir, big, "-o", tmp_path / "out.csv", "-q", "--batch-size", "64", cwd=tmp_path)
    deadline = time.time() + 180
    while not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]:
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == status, err
    assert sorted(os.listdir(tmp_path)) == ["big.fa"], err  # no output, no temporary file


def test_a_killed_writers_temporary_file_goes_with_the_next_write(model_dir, tmp_path):
    big = tmp_path / "big.fa"
    big.write_text("".join(f">r{i}\n{GOOD}\n" for i in range(300_000)))
    p = child("predict", model_dir, big, "-o", tmp_path / "out.csv", "-q", "--batch-size", "64", cwd=tmp_path)
    deadline = time.time() + 180
    while not (left := [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]):
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    p.kill()  # SIGKILL: nothing can clean up
    p.communicate(timeout=60)
    assert left[0].startswith(f".out.csv.{p.pid}.") and (tmp_path / left[0]).exists()
    (tmp_path / "small.fa").write_text(FASTA)
    rc, _, err = cli("predict", model_dir, "small.fa", "-o", "out.csv", "-q", cwd=tmp_path)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path)) == ["big.fa", "out.csv", "small.fa"]


def test_an_error_names_the_output_not_its_temporary_file(monkeypatch, tmp_path):
    import errno
    import tempfile

    from zoo import outputs
    from zoo.errors import classify

    def read_only(dir, prefix, suffix):  # what mkstemp raises in a folder of a read-only file system
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(dir, f"{prefix}x1y2z3{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError) as info:
        outputs.atomic_write_text(tmp_path / "n.csv", "x")
    assert classify(info.value) == (f"cannot write {str(tmp_path / 'n.csv')!r}: the file system is read-only; "
                                    "write somewhere else", 1)


def test_all_or_nothing_leaves_no_output_when_a_later_one_fails(tmp_path):
    from zoo.outputs import all_or_nothing, atomic_write_text, live_temporaries

    (tmp_path / "old.csv").write_text("mine")
    with pytest.raises(RuntimeError):
        with all_or_nothing():
            atomic_write_text(tmp_path / "new.png", "picture")
            atomic_write_text(tmp_path / "old.csv", "numbers")
            raise RuntimeError("the third output failed")
    assert sorted(os.listdir(tmp_path)) == ["old.csv"] and (tmp_path / "old.csv").read_text() == "mine"
    assert live_temporaries() == []
    with all_or_nothing():
        atomic_write_text(tmp_path / "new.png", "picture")
        assert not (tmp_path / "new.png").exists()  # it waits for the others
    assert (tmp_path / "new.png").read_text() == "picture" and live_temporaries() == []


EXPLAIN_OUTPUTS = {
    "logo and filters the same file": (["-o", "x.png", "--filters", "x.png"],
                                       "'x.png' is both the logo (-o) and the filters (--filters)"),
    "filters beside the logo's numbers": (["-o", "x.png", "--filters", "x.csv"],
                                          "'x.csv' is both the numbers beside the logo and the filters"),
    "numbers under a file": (["-o", "out/x.png", "--numbers", "in.fa/n.csv"],
                             "'in.fa/n.csv' goes through something that is not a folder"),
    "filters under a file": (["-o", "out/x.png", "--filters", "in.fa/f.meme"],
                             "'in.fa/f.meme' goes through something that is not a folder"),
    "numbers onto a folder": (["-o", "x.png", "--numbers", "adir.csv"], "output 'adir.csv' is a folder"),
}


@pytest.mark.parametrize("case", list(EXPLAIN_OUTPUTS))
def test_explain_checks_every_output_before_computing(case, model_dir, tmp_path):
    argv, expected = EXPLAIN_OUTPUTS[case]
    (tmp_path / "in.fa").write_text(FASTA)
    (tmp_path / "adir.csv").mkdir()
    line = one_sentence(*cli("explain", model_dir, "in.fa", *argv, cwd=tmp_path)[::2])
    assert expected in line, line
    assert sorted(os.listdir(tmp_path)) == ["adir.csv", "in.fa"]  # nothing written, no folder made


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_explain_writes_all_its_outputs_or_none(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    line = one_sentence(*cli("explain", model_dir, "in.fa", "-o", "x.png", "--filters", "/dev/full",
                             cwd=tmp_path)[::2], status=1)
    assert "'/dev/full'" in line and "no space left" in line, line
    assert sorted(os.listdir(tmp_path)) == ["in.fa"]  # the logo and its numbers were written first, then removed
    rc, out, err = cli("explain", model_dir, "in.fa", "-o", "x.png", "--filters", "f.meme", cwd=tmp_path)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path)) == ["f.meme", "in.fa", "x.csv", "x.png"]


def test_explain_refuses_an_unwritable_folder_before_computing(unprivileged):
    run, folder, model = unprivileged
    with open(os.path.join(folder, "in.fa"), "w") as fh:
        fh.write(FASTA)
    os.chmod(os.path.join(folder, "in.fa"), 0o644)
    os.mkdir(os.path.join(folder, "ro"), 0o555)
    os.chmod(os.path.join(folder, "ro"), 0o555)
    for option, name in (("--numbers", "n.csv"), ("--filters", "f.meme")):
        line = one_sentence(*run("explain", model, "in.fa", "-o", "x.png", option, f"ro/{name}")[::2], 1)
        assert line == f"genozoo: error: cannot write 'ro/{name}': permission denied; check the file's and " \
                       "folder's permissions", line
    assert not os.path.exists(os.path.join(folder, "x.png")) and os.listdir(os.path.join(folder, "ro")) == []


# ------------------------------------------------------------------------------------------------ options
BAD_OPTIONS = {
    "device meta": (["predict", "{m}", "in.fa", "--device", "meta"], "--device"),
    "batch size 0": (["predict", "{m}", "in.fa", "--batch-size", "0"], "--batch-size"),
    "max length 0": (["predict", "{m}", "in.fa", "--max-length", "0"], "--max-length"),
    "steps 0": (["explain", "{m}", GOOD, "--steps", "0", "-o", "x.png"], "--steps"),
    "max logos 0": (["explain", "{m}", GOOD, "--max-logos", "0", "-o", "x.png"], "--max-logos"),
    "threshold 2": (["explain", "{m}", GOOD, "--threshold", "2", "--filters", "f.meme"], "--threshold"),
    "lr nan": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--lr", "nan"], "--lr"),
    "lr -1": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--lr", "-1"], "--lr"),
    "seq len huge": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--seq-len", "10000000"], "--seq-len"),
    "seq len 0": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--seq-len", "0"], "--seq-len"),
    "seed -1": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--seed", "-1"], "--seed"),
    "epochs 0": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--epochs", "0"], "--epochs"),
    "tag path": (["finetune", "{m}", "--data", "in.fa", "-o", "ft", "--tag", "../../evil"], "--tag"),
    "train seed": (["train", "--arch", "cnn_zeng_2_conv2d", "--dataset", "splice", "--seed", "-3"], "--seed"),
    "evaluate batch": (["evaluate", "x", "--dataset", "splice", "--batch-size", "0"], "--batch-size"),
    "space port": (["space", "--port", "70000"], "--port"),
    "info seq len": (["info", "cnn_zeng_2_conv2d", "--seq-len", "-5"], "--seq-len"),
    "verify atol": (["verify", "--atol", "inf"], "--atol"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_options_are_range_checked_while_parsing(case, model_dir, tmp_path):
    argv, option = BAD_OPTIONS[case]
    (tmp_path / "in.fa").write_text(FASTA)
    line = one_sentence(*cli(*[a.format(m=model_dir) for a in argv], cwd=tmp_path)[::2])
    assert f"argument {option}" in line and "--help" in line, line
    assert sorted(os.listdir(tmp_path)) == ["in.fa"]


# ------------------------------------------------------------------------------------------------ explain
def test_explain_takes_a_long_literal_sequence_and_refuses_what_predict_refuses(model_dir, tmp_path):
    rc, _, err = cli("explain", model_dir, "ACGT" * 75, "--numbers", "n.json", "--method", "saliency",
                     cwd=tmp_path)  # 300 bp: longer than a file name may be
    assert rc == 0, err
    assert len(json.loads((tmp_path / "n.json").read_text())["sequences"][0]["scores"]) == 300
    assert "is 6,000,000 bp long" in one_sentence(*cli("explain", model_dir, "A" * 6_000_000, "--numbers",
                                                       "m.csv", cwd=tmp_path)[::2])
    (tmp_path / "empty.fa").write_text(">a\n>b\nACGT\n")
    assert "sequence 'a' is empty" in one_sentence(*cli("explain", model_dir, "empty.fa", "--numbers", "m.csv",
                                                        cwd=tmp_path)[::2])
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize("repo", ["org/..", "org /x", "org/name/../../x", "a" * 5000])
def test_malformed_model_names_are_one_sentence(repo, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    line = one_sentence(*cli("predict", repo, "in.fa", cwd=tmp_path)[::2])
    assert len(line) < 400, line


# ------------------------------------------------------------------------------------------------ weights
def _copy(model_dir, tmp_path, name, edit=None, flip=False):
    folder = tmp_path / name
    shutil.copytree(model_dir, folder)
    if edit:
        config = json.loads((folder / "config.json").read_text())
        config.update(edit)
        (folder / "config.json").write_text(json.dumps(config))
    if flip:
        data = bytearray((folder / "model.safetensors").read_bytes())
        data[-2] ^= 0x01  # one bit of the last tensor (head.bias)
        (folder / "model.safetensors").write_bytes(bytes(data))
    return folder


def test_saved_folders_record_their_weights_hash(model_dir):
    from zoo.hub.validate import sha256_file

    config = json.loads((model_dir / "config.json").read_text())
    assert config["weights_sha256"] == sha256_file(model_dir / "model.safetensors")


def test_a_flipped_bit_is_refused_unless_allowed(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    bad = _copy(model_dir, tmp_path, "bad", flip=True)
    line = one_sentence(*cli("predict", bad, "in.fa", cwd=tmp_path)[::2])
    assert "do not match the sha256" in line and "--allow-modified" in line
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as a fresh process shows it, whatever pytest filtered before
        rc, out, err = cli("predict", bad, "in.fa", "--allow-modified", "-q", cwd=tmp_path)
    assert rc == 0 and out.startswith("id,"), err
    assert err.startswith("genozoo: warning: the weights in") and "loading them anyway" in err
    assert len(err.strip().splitlines()) == 1, err  # one line, said once


def test_a_published_folder_must_hold_the_published_weights(tmp_path):
    import zoo
    from zoo.hub import IntegrityError, hub_dir, load_model, repo_id_for
    from zoo.registry import pretrained_cfg

    name = next(n for n in zoo.list_models(pretrained=True) if pretrained_cfg(n).sha256)
    folder = tmp_path / "copy"
    shutil.copytree(hub_dir() / repo_id_for(pretrained_cfg(name)), folder)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-2] ^= 0x01
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"not those of the published {name}"):
        load_model(folder)
    with pytest.warns(UserWarning, match="loading them anyway"):
        model = load_model(folder, allow_modified=True)
    assert getattr(model, "pretrained_cfg", None) is None  # no longer claims the published record


@pytest.mark.parametrize("edit, expected", [
    ({"conv_filters": [1_000_000, 1_000_000]}, "parameters, more than genozoo builds"),
    ({"seq_len": 10**12}, "beyond any real model size"),
    ({"kernel_size": 0}, "do not build"),
    ({"dense": -5}, "do not build"),
    ({"bogus": 1}, "unexpected keyword argument 'bogus'"),
    ({"conv_filters": list(range(20_000))}, "is a list of 20,000 items"),
])
def test_config_json_is_validated_before_allocation(edit, expected, model_dir, tmp_path):
    (tmp_path / "in.fa").write_text(FASTA)
    folder = _copy(model_dir, tmp_path, "cfg", edit=edit)
    line = one_sentence(*cli("predict", folder, "in.fa", cwd=tmp_path)[::2])
    assert expected in line, line
