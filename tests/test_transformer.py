"""Small BERT baselines (zoo.models.transformer): tokenizers, the genozoo contract, learning a planted motif, and an
exported folder that plain transformers loads in a fresh interpreter that cannot import genozoo."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from zoo.encoding import encode
from zoo.errors import UserError
from zoo.models.transformer import (BertBaseline, build_tokenizer, dna_vocabulary, hf_tokenizer,
                                    load_transformers, save_transformers)
from zoo.registry import create_model, list_families, study_kwargs

from toy_data import planted, train_steps  # noqa: E402

BERTS = ["bert_tiny_nt", "bert_tiny_kmer3"]
SMALL = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


def messy(n: int, length: int, seed: int = 1) -> list[str]:
    """Sequences of varying length with lower case, N, U and IUPAC codes."""
    rng = np.random.default_rng(seed)
    alphabet = list("ACGTACGTACGTacgtNnURYk")
    return ["".join(rng.choice(alphabet, int(rng.integers(length // 2, length + 1)))) for _ in range(n)]


def test_registered_in_family_transformer():
    assert set(BERTS) <= set(list_families()["transformer"])


def test_vocabulary_and_kmer_split():
    assert list(dna_vocabulary(1)) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "A", "C", "G", "T", "N"]
    assert len(dna_vocabulary(3)) == 5 + 64 + 5
    tok = build_tokenizer(3, 64)
    assert tok.encode("ACGTNACGTAa").tokens == ["[CLS]", "ACG", "T", "N", "ACG", "TAA", "[SEP]"]
    assert build_tokenizer(1, 64).encode("acgUr").tokens == ["[CLS]", "A", "C", "G", "T", "N", "[SEP]"]


@pytest.mark.parametrize("k", [1, 3])
def test_zoo_tokens_map_to_the_exported_tokenizer(k):
    model = BertBaseline(seq_len=50, k=k, **SMALL)
    seqs = messy(20, 50)
    ids, mask = model.hf_inputs(encode(seqs, model.encoding))
    ref = hf_tokenizer(k, 52)(seqs, padding=True, return_tensors="pt")
    assert torch.equal(ids, ref["input_ids"]) and torch.equal(mask, ref["attention_mask"])


@pytest.mark.parametrize("name", BERTS)
@pytest.mark.parametrize("task", ["splice", "histone", "motif"])
def test_study_geometries_forward_backward(name, task):
    torch.manual_seed(0)
    kw = study_kwargs(name, task)
    model = create_model(name, **kw)
    assert model.bert.config.max_position_embeddings >= kw["seq_len"] + 2
    x = encode(["ACGTNACGTTGCA" * 40, "GATTACA"], model.encoding)
    out = model(x)
    assert out.shape == (2, 1 if kw["num_classes"] == 2 else kw["num_classes"])
    model.loss(out, torch.tensor([0, 1])).backward()
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", BERTS)
def test_learns_planted_motif(name):
    seqs, y = planted()
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, seq_len=40, **SMALL)
    x = encode(seqs, model.encoding)
    before, after = train_steps(model, x, y, lr=1e-3)
    assert after < 0.75 * before, (before, after)


def test_hub_mixin_round_trip(tmp_path):
    torch.manual_seed(0)
    model = create_model("bert_tiny_kmer3", num_classes=3, seq_len=30, label_names=["EI", "IE", "N"], **SMALL)
    model.eval().save_pretrained(tmp_path)
    again = BertBaseline.from_pretrained(tmp_path).eval()
    x = encode(messy(4, 30), model.encoding)
    assert torch.equal(model(x), again(x)) and again.label_names == ["EI", "IE", "N"]


_PLAIN_TRANSFORMERS = """
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "zoo":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
job = json.loads(sys.argv[1])
out = {}
for folder in job["folders"]:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(job["seqs"], padding=True, return_tensors="pt")
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer)
    out[folder] = {"logits": model(**batch).logits.tolist(), "pipeline": classify(job["seqs"][:2]),
                   "problem_type": model.config.problem_type}
assert not any(m.split(".")[0] == "zoo" for m in sys.modules)
print(json.dumps(out))
"""


def test_plain_transformers_loads_export_without_genozoo(tmp_path):
    seqs = messy(6, 60, seed=3)
    folders, expected = [], {}
    for name, num_classes in [("bert_tiny_nt", 2), ("bert_tiny_kmer3", 3)]:
        torch.manual_seed(0)
        labels = ["absent", "present"] if num_classes == 2 else ["EI", "IE", "N"]
        model = create_model(name, num_classes=num_classes, seq_len=60, label_names=labels, **SMALL).eval()
        folder = str(tmp_path / name)
        save_transformers(model, folder)
        assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors", "tokenizer.json",
                                              "tokenizer_config.json"]
        folders.append(folder)
        expected[folder] = model(encode(seqs, model.encoding))
        reloaded = load_transformers(folder)
        assert torch.equal(reloaded(encode(seqs, reloaded.encoding)), expected[folder])
        assert reloaded.label_names == labels and reloaded.arch == name
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-I", "-c", _PLAIN_TRANSFORMERS, json.dumps({"folders": folders,
                          "seqs": seqs})], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    logits = torch.tensor(got[folders[1]]["logits"])
    assert torch.allclose(logits, expected[folders[1]], atol=1e-5)
    binary, multi = got[folders[0]], got[folders[1]]
    # Binary: the standard two-label head; its softmax is genozoo's sigmoid of the one logit.
    assert binary["problem_type"] == multi["problem_type"] == "single_label_classification"
    two = torch.tensor(binary["logits"])
    assert two.shape == (len(seqs), 2) and torch.all(two[:, 0] == 0)
    p = torch.sigmoid(expected[folders[0]][:, 0])
    assert torch.allclose(torch.softmax(two, 1)[:, 1], p, atol=1e-6)
    assert [r["label"] for r in binary["pipeline"]] == [["absent", "present"][int(q > 0.5)] for q in p[:2]]
    assert np.allclose([r["score"] for r in binary["pipeline"]], [max(q, 1 - q) for q in p[:2].tolist()], atol=1e-5)
    top = expected[folders[1]][:2].argmax(1).tolist()
    assert [r["label"] for r in multi["pipeline"]] == [["EI", "IE", "N"][i] for i in top]


def test_save_replaces_folder_atomically_and_load_errors(tmp_path):
    torch.manual_seed(0)
    model = BertBaseline(seq_len=20, **SMALL).eval()
    target = tmp_path / "export"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    save_transformers(model, target)
    assert not (target / "stale.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["export"]  # no temporary or backup folder left behind
    cfg = json.loads((target / "config.json").read_text())
    del cfg["genozoo"]
    (target / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="save_transformers"):
        load_transformers(target)
    with pytest.raises(UserError, match="not a transformers model folder"):
        load_transformers(tmp_path / "missing")


def test_reset_classifier_is_exported():
    model = BertBaseline(seq_len=20, **SMALL)
    model.reset_classifier(4, ["a", "b", "c", "d"])
    cfg = model.bert_config()
    assert cfg.num_labels == 4 and cfg.id2label[3] == "d" and model.head.out_features == 4


_PLAIN_PROBABILITIES = _PLAIN_TRANSFORMERS.split("out = {}")[0] + """
out = {}
for folder in job["folders"]:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(job["seqs"], padding=True, return_tensors="pt")
    out[folder] = model(**batch).logits.softmax(-1).tolist()
print(json.dumps(out))
"""


def test_published_folders_give_genozoos_numbers_in_plain_transformers_at_any_length():
    """Every published transformer folder, read by plain transformers (genozoo unimportable) with its own
    tokenizer, gives genozoo's probabilities for inputs shorter than, equal to and longer than the model's length:
    the tokenizer crops (and the attention mask pads) as the model's encoding declares."""
    import warnings

    import zoo
    from zoo.hub import hub_dir, repo_id_for

    rng = np.random.default_rng(7)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in (50, 101, 150) for _ in range(3)]
    seqs += ["acgtNRY" + seqs[-1]]  # lower case and ambiguity codes, longer than every model but histone
    names = [n for n in zoo.list_models(pretrained=True) if zoo.model_family(n) == "transformer"]
    assert {zoo.pretrained_cfg(n).seq_len for n in names} >= {60, 101}  # crops at 101 and 150 (and 50 pads)
    folders = {n: str(hub_dir() / repo_id_for(zoo.pretrained_cfg(n))) for n in names}
    run = subprocess.run([sys.executable, "-I", "-c", _PLAIN_PROBABILITIES,
                          json.dumps({"folders": list(folders.values()), "seqs": seqs})],
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    for name, folder in folders.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # padded / cropped on purpose
            want = zoo.create_model(name, pretrained=True).predict(seqs).probabilities
        assert np.allclose(np.asarray(got[folder]), np.asarray(want), atol=1e-5), name


def test_a_bert_longer_than_its_tokenizer_can_crop_is_one_sentence(capsys):
    import zoo
    from zoo.cli import main

    with pytest.raises(UserError, match="reads at most 16,384 bp"):
        zoo.create_model("bert_tiny_nt", seq_len=65_536)
    assert main(["info", "bert_tiny_kmer3", "--seq-len", "100000"]) == 2  # it was the tokenizer's traceback
    assert capsys.readouterr().err.startswith("genozoo: error: a genozoo BERT reads at most")
