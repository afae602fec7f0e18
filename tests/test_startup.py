"""Start-up (issue #24): ``import zoo``, a published model and ``genozoo predict`` load only what they use, and
published weights are loaded into a model built on the meta device instead of an initialized one.

These check behaviour (which modules a fresh interpreter ends up with, what a load computes), not seconds:
bench/startup.py measures those.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import zoo
from zoo import hub
from zoo.hub.folders import build_for_loading, fillable, load_weights
from zoo.models.base import ZooModel
from zoo.registry import model_entrypoint, study_kwargs

NAME = "deepram_conv1d_recurrent_onehot.motif_ctcf"
#: Libraries that a local model never needs: the Hub client (and its HTTP stack and file locks), transformers,
#: datasets, and the plotting / data-frame / scientific stacks.
NOT_FOR_A_LOCAL_MODEL = ("huggingface_hub", "transformers", "datasets", "tokenizers", "filelock", "httpx", "httpx2",
                         "requests", "yaml", "jinja2", "matplotlib", "pandas", "scipy", "sklearn", "gradio")
MODELS = zoo.list_models()


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (offline, the bundled hub) and return what it printed last as JSON, with
    the top-level packages it imported under ``"imported"``."""
    probe = (code + "\nimport json, sys\n"
             "print(json.dumps({'imported': sorted({m.split('.')[0] for m in sys.modules}), "
             "'zoo': sorted(m for m in sys.modules if m.startswith('zoo')), **globals().get('extra', {})}))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_published_model_loads_without_the_hub_client_or_other_heavy_libraries():
    seen = _modules_after(f"import zoo\nm = zoo.create_model({NAME!r}, pretrained=True)\n"
                          "extra = {'source': m.weights_source, 'training': m.training}")
    assert seen["source"] == "bundle" and seen["training"] is False
    assert "torch" in seen["imported"]
    assert not set(NOT_FOR_A_LOCAL_MODEL) & set(seen["imported"])
    assert "zoo.cards" not in seen["zoo"] and "zoo.data" not in seen["zoo"]  # card rendering, data registry


def test_genozoo_predict_loads_without_the_hub_client(tmp_path):
    fasta, out = tmp_path / "in.fa", tmp_path / "out.csv"
    fasta.write_text(">a\n" + "ACGT" * 25 + "A\n>b\n" + "GATC" * 25 + "G\n")
    seen = _modules_after(f"from zoo.cli import main\nrc = main(['predict', {NAME!r}, {str(fasta)!r}, '-o', "
                          f"{str(out)!r}])\nextra = {{'rc': rc}}")
    assert seen["rc"] == 0 and len(out.read_text().splitlines()) == 3
    assert not set(NOT_FOR_A_LOCAL_MODEL) & set(seen["imported"])


def test_import_zoo_loads_neither_torch_nor_the_hub_client():
    seen = _modules_after("import zoo\nzoo.list_models('deepram*', pretrained=True)")
    assert not {"torch", *NOT_FOR_A_LOCAL_MODEL} & set(seen["imported"])


def test_save_and_from_pretrained_of_a_local_folder_need_no_hub_client(tmp_path):
    """The card written by save_pretrained comes from huggingface_hub's ModelCard; a folder that already has a
    README.md (zoo.hub.save_model writes genozoo's) and its loading back do not import the client."""
    seen = _modules_after(
        "import torch, zoo\n"
        "m = zoo.create_model('deepram_conv1d_onehot', num_classes=3, seq_len=40).eval()\n"
        f"d = {str(tmp_path / 'm')!r}\n"
        "import os; os.makedirs(d); open(os.path.join(d, 'README.md'), 'w').write('mine')\n"
        "m.save_pretrained(d)\n"
        "again = type(m).from_pretrained(d)\n"
        "x = zoo.encode(['ACGT' * 10], m.encoding)\n"
        "extra = {'same': bool(torch.equal(m(x), again(x))), 'card': open(os.path.join(d, 'README.md')).read()}")
    assert seen["same"] and seen["card"] == "mine"
    assert "huggingface_hub" not in seen["imported"]


@pytest.mark.parametrize("name", MODELS)
def test_every_architecture_loads_completely_into_a_meta_build(name, tmp_path):
    """Built for loading (on the meta device where nothing lives outside the state dict) and filled from a file,
    every architecture equals the model the file came from."""
    from safetensors.torch import save_file

    args = study_kwargs(name, "motif")
    torch.manual_seed(0)
    model = zoo.create_model(name, **args).eval()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    empty = build_for_loading(model_entrypoint(name), args)
    # genozoo's own layers keep everything in the state dict, so they are built on the meta device; transformers'
    # BERT keeps non-persistent buffers (position ids) and is built normally.
    on_meta = zoo.model_family(name) != "transformer"
    assert all(p.is_meta == on_meta for p in empty.parameters())
    assert load_weights(empty, path) == []
    empty.eval()
    tensors = [*empty.named_parameters(), *empty.named_buffers()]
    assert not [n for n, t in tensors if t.is_meta]
    assert [p.requires_grad for p in empty.parameters()] == [p.requires_grad for p in model.parameters()]
    for (k, a), (_, b) in zip(sorted(model.state_dict().items()), sorted(empty.state_dict().items())):
        assert a.dtype == b.dtype and torch.equal(a, b), k
        assert b.data_ptr() % 16 == 0, k  # fresh memory, not an unaligned view into the file
    x = zoo.encode(["ACGT" * 25 + "A", "GGCA" * 25 + "T"], model.encoding)
    with torch.no_grad():
        assert torch.equal(empty(x), model(x))


def test_published_weights_are_not_initialized_before_loading(monkeypatch):
    """create_model(pretrained=True) fills a meta build: no random initialization runs (the recurrent layers'
    orthogonal init, a QR decomposition, was a tenth of a second of start-up); a new head is initialized."""
    calls = []
    real = nn.init.orthogonal_

    def counting(tensor, *args, **kwargs):
        if not tensor.is_meta:  # on the meta device it computes nothing
            calls.append(tuple(tensor.shape))
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(nn.init, "orthogonal_", counting)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = zoo.create_model(NAME, pretrained=True)
    assert calls == [] and loaded.weights_source == "bundle"
    x = zoo.encode(["ACGT" * 25 + "A"], loaded.encoding)
    with torch.no_grad():
        assert torch.isfinite(loaded(x)).all()
    with pytest.warns(UserWarning, match="not loaded"):
        tuned = zoo.create_model(NAME, pretrained=True, num_classes=3)
    assert calls and not any(p.is_meta for p in tuned.parameters())  # built and initialized normally
    assert torch.equal(tuned.lstms[0].weight_hh_l0, loaded.lstms[0].weight_hh_l0)  # loaded, head fresh


class _Computed(ZooModel):
    """A model with a non-persistent buffer (computed, not saved) and a layer shared by two attributes."""

    def __init__(self, num_classes: int = 2, seq_len: int = 8, label_names=None):
        super().__init__(num_classes, seq_len, label_names)
        self.register_buffer("scale", torch.full((1,), 2.0), persistent=False)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(x) * self.scale


def test_a_model_with_state_outside_its_state_dict_is_built_normally(tmp_path):
    from safetensors.torch import save_file

    model = _Computed().eval()
    assert not fillable(model)
    built = build_for_loading(_Computed, {})
    assert not any(t.is_meta for t in [*built.parameters(), *built.buffers()])
    save_file(dict(model.state_dict()), str(tmp_path / "m.safetensors"))
    load_weights(built, tmp_path / "m.safetensors")
    x = torch.ones(2, 4)
    assert torch.equal(built(x), model(x))
    shared = nn.Sequential(nn.Linear(4, 4))
    shared.again = shared[0]  # one layer under two names: assigning the file's tensors would untie it
    assert not fillable(shared) and fillable(nn.Sequential(nn.Linear(4, 4)))
    with torch.device("meta"):
        empty = zoo.create_model("deepram_conv1d_onehot", num_classes=3, seq_len=40)
    with pytest.raises(ValueError, match="uninitialized on the meta device"):
        load_weights(empty, _saved(tmp_path), skip_prefixes=("head.",))


def _saved(tmp_path):
    model = zoo.create_model("deepram_conv1d_onehot", num_classes=3, seq_len=40)
    return hub.save_model(model, tmp_path / "folder", card=False)


def test_the_program_entry_point_leaves_torch_s_heap_to_the_process_end(tmp_path):
    """`genozoo` / `python -m zoo` run zoo.cli.run: main's status, then the heap frozen (gc.freeze) when torch was
    loaded, so the interpreter's exit does not walk torch's objects; a command without torch is left alone."""
    fasta, out = tmp_path / "in.fa", tmp_path / "out.csv"
    fasta.write_text(">a\n" + "ACGT" * 25 + "A\n")
    seen = _modules_after(f"import gc\nfrom zoo.cli import run\nrc = run(['predict', {NAME!r}, {str(fasta)!r}, "
                          f"'-o', {str(out)!r}])\nextra = {{'rc': rc, 'frozen': gc.get_freeze_count()}}")
    assert seen["rc"] == 0 and seen["frozen"] > 100_000 and out.read_text().count("\n") == 2
    seen = _modules_after("import gc\nfrom zoo.cli import run\nrc = run(['list', '--pretrained'])\n"
                          "extra = {'rc': rc, 'frozen': gc.get_freeze_count()}")
    assert seen["rc"] == 0 and seen["frozen"] == 0 and "torch" not in seen["imported"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-m", "zoo", "predict", NAME, str(fasta), "-o", str(tmp_path / "m.csv")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and (tmp_path / "m.csv").read_text() == out.read_text()
