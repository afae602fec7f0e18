"""The study's NLP-style models (zoo.models.nlp, zoo.models.doc2vec): they build for the study's geometries, learn a
planted motif, round-trip through the hub mixin, and doc2vec predicts from safetensors alone (no gensim, no pickle)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from zoo.encoding import encode, kmer_index, to_codes
from zoo.models import doc2vec as pv
from zoo.models.nlp import (Doc2VecClassifier, LstmAeClassifier, LstmAutoencoder, LstmClassifier,
                            fit_autoencoder)
from zoo.registry import create_model, list_families, study_kwargs

from toy_data import planted, train_steps  # noqa: E402

NLP = ["lstm_baseline", "lstm_autoencoder", "lstm_ae_mlp", "doc2vec_mlp"]


@pytest.fixture(scope="module")
def toy() -> tuple[list[str], torch.Tensor]:
    return planted()


def test_registered_in_family_nlp():
    assert set(NLP) <= set(list_families()["nlp"])
    assert create_model("lstm_autoencoder").is_classifier is False
    assert all(create_model(n).is_classifier for n in NLP if n != "lstm_autoencoder")


@pytest.mark.parametrize("name", NLP)
@pytest.mark.parametrize("task", ["splice", "histone", "motif"])
def test_study_geometries_forward_backward(name, task):
    torch.manual_seed(0)
    kw = study_kwargs(name, task)
    model = create_model(name, **kw)
    x = encode(["ACGTNACGTTGCA" * 40, "GATTACA"], model.encoding)
    assert x.shape == (2, kw["seq_len"]) and x.dtype == torch.int64
    out = model(x)
    if model.is_classifier:
        assert out.shape == (2, 1 if kw["num_classes"] == 2 else kw["num_classes"])
        model.loss(out, torch.tensor([0, 1])).backward()
        assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0
    else:
        assert out.shape == (2, kw["seq_len"], 4)
        model.reconstruction_loss(x).backward()
        assert model.encoder.lstm.weight_ih_l0.grad.abs().sum() > 0


def test_lstm_baseline_layers():
    m = create_model("lstm_baseline", num_classes=3, seq_len=60)
    assert m.encoder.embedding.num_embeddings == 6 and m.encoder.embedding.embedding_dim == 30
    assert m.encoder.lstm.hidden_size == 30
    linears = [layer.out_features for layer in m.mlp if isinstance(layer, torch.nn.Linear)]
    dropouts = [layer.p for layer in m.mlp if isinstance(layer, torch.nn.Dropout)]
    assert linears == [128, 64, 32, 16] and dropouts == [0.2] * 4
    assert m.head.out_features == 3


def test_last_state_ignores_right_padding():
    torch.manual_seed(0)
    m = LstmClassifier(seq_len=50).eval()
    short = "ACGTTGCAAGGCTTAC"
    padded = encode([short, "A" * 50], m.encoding)  # the first row is padded to 50 with PAD
    exact = encode([short], m.encoding.replace(length=len(short)))
    assert torch.allclose(m.encoder(padded)[0], m.encoder(exact)[0], atol=1e-6)
    assert not torch.allclose(m.encoder(padded)[0], m.encoder(padded)[1])


def test_lstm_baseline_learns(toy):
    seqs, y = toy
    torch.manual_seed(0)
    m = create_model("lstm_baseline", num_classes=2, seq_len=40)
    before, after = train_steps(m, encode(seqs, m.encoding), y)
    assert after < 0.75 * before, (before, after)


def test_autoencoder_loss_ignores_pad_and_n():
    torch.manual_seed(0)
    ae = LstmAutoencoder(seq_len=12)
    x = encode(["ACGTNNACG", "TTTTACGTAAAC"], ae.encoding)  # row 0: two N, then 3 PAD
    logits = ae(x)
    assert logits.shape == (2, 12, 4)
    keep = (x >= 2) & (x <= 5)
    manual = torch.nn.functional.cross_entropy(logits[keep], x[keep] - 2)
    assert torch.allclose(ae.reconstruction_loss(x), manual)
    assert keep.sum() == 7 + 12
    with pytest.raises(TypeError):
        ae.reset_classifier(3)


def test_autoencoder_then_classifier(toy, tmp_path):
    seqs, y = toy
    torch.manual_seed(0)
    ae = create_model("lstm_autoencoder", seq_len=40)
    history = fit_autoencoder(ae, seqs, epochs=4, batch_size=32, lr=1e-2, progress=False)
    assert history[-1] < history[0]
    clf = LstmAeClassifier.from_autoencoder(ae, num_classes=2)
    x = encode(seqs, clf.encoding)
    assert clf.is_pretrained and torch.equal(clf.codes(x[:8]), ae.encode(x[:8]))
    frozen = {k: v.clone() for k, v in clf.encoder.state_dict().items()}
    before, after = train_steps(clf, x, y)
    assert after < 0.75 * before, (before, after)
    assert all(torch.equal(v, clf.encoder.state_dict()[k]) for k, v in frozen.items())  # encoder stayed frozen
    assert clf.num_parameters() == sum(p.numel() for p in [*clf.mlp.parameters(), *clf.head.parameters()])
    clf.save_pretrained(tmp_path)
    again = LstmAeClassifier.from_pretrained(tmp_path).eval()
    assert again.is_pretrained and torch.equal(again(x), clf(x))


def test_lstm_ae_mlp_pretrain_hook(toy):
    seqs, _ = toy
    torch.manual_seed(0)
    m = create_model("lstm_ae_mlp", num_classes=2, seq_len=40)
    assert m.requires_pretraining and not m.is_pretrained
    start = m.encoder.lstm.weight_ih_l0.clone()
    out = m.pretrain(seqs[:64], epochs=2, batch_size=32, progress=False)
    assert len(out["reconstruction_loss"]) == 2 and m.is_pretrained
    assert not torch.equal(start, m.encoder.lstm.weight_ih_l0)
    assert not any(p.requires_grad for p in m.encoder.parameters())
    unfrozen = create_model("lstm_ae_mlp", freeze_encoder=False)
    assert all(p.requires_grad for p in unfrozen.encoder.parameters())


def test_lstm_ae_mlp_pretrains_for_its_step_budget_in_whole_epochs(toy):
    seqs, _ = toy
    # 70 sequences in batches of 32 are 3 steps an epoch: 7 steps round up to 3 epochs.
    m = create_model("lstm_ae_mlp", num_classes=2, seq_len=40, ae_steps=7, ae_batch_size=32)
    assert len(m.pretrain(seqs[:70], progress=False)["reconstruction_loss"]) == 3
    assert create_model("lstm_ae_mlp").ae_steps == 12_800  # the budget that reproduces the study's splice figure


def test_fit_counts_the_autoencoder_in_train_seconds_across_a_resume(toy, tmp_path):
    from zoo.engine import TrainConfig, fit

    seqs, labels = toy
    data = {"sequence": seqs[:128], "label": labels[:128].tolist()}
    val = {"sequence": seqs[128:192], "label": labels[128:192].tolist()}
    cfg = TrainConfig(epochs=3, batch_size=32, quiet=True)

    def model():
        torch.manual_seed(0)
        return create_model("lstm_ae_mlp", num_classes=2, seq_len=40, ae_steps=40, ae_batch_size=32)

    def stop_after_2(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model(), data, val, cfg, run_dir=tmp_path, on_epoch_end=stop_after_2)
    resumed = fit(model(), data, val, cfg, run_dir=tmp_path, resume=True)
    assert resumed.resumed_from == 2 and resumed.pretrain_seconds > 0
    epochs = sum(r["seconds"] for r in resumed.history)
    assert resumed.train_seconds >= resumed.pretrain_seconds + epochs


# -------------------------------------------------------------------------------------------------- doc2vec
def test_kmer_words_match_encoding_kmer_index():
    seqs = ["ACGTNACGTTTGCA", "GGGCCCAAATTT", "ACGT"]
    codes = to_codes(seqs, 14)
    x = encode(seqs, {"kind": "tokens", "length": 14})
    assert np.array_equal(pv.kmer_words(x, 3).numpy(), kmer_index(codes, 3))
    counts = pv.kmer_counts(x, 3)
    assert counts.shape == (3, 64) and counts[2].sum() == 2 and counts[0].sum() == 9  # 12 windows, 3 hold the N


def test_inference_minimizes_the_pv_dbow_objective():
    torch.manual_seed(0)
    U, noise = torch.randn(64, 16) * 0.3, torch.softmax(torch.randn(64), 0)
    counts = torch.poisson(torch.full((5, 64), 2.0))
    d = pv.infer_paragraph_vectors(counts, U, noise, negative=5, l2=1.0, iters=8).requires_grad_()
    loss = pv._objective(d, counts, 5 * counts.sum(1, keepdim=True) * noise, U, 1.0).sum()
    (grad,) = torch.autograd.grad(loss, d)
    assert grad.abs().max() < 1e-3 and d.abs().sum() > 0


def test_inference_agrees_with_gensim(toy):
    seqs, _ = toy
    x = encode(seqs, {"kind": "tokens", "length": 40})
    model = pv.train_doc2vec(x, 3, 32, epochs=20, seed=1, progress=False)
    U, noise = (torch.from_numpy(a) for a in pv.arrays_from_gensim(model, 3))
    ours = pv.infer_paragraph_vectors(pv.kmer_counts(x, 3), U, noise, negative=model.negative).numpy()
    theirs = np.stack([model.infer_vector(words) for words in pv.documents(x, 3)])
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.mean() > 0.8, cos.mean()


def test_doc2vec_mlp_learns_and_loads_without_gensim(toy, tmp_path):
    seqs, y = toy
    torch.manual_seed(0)
    m = create_model("doc2vec_mlp", num_classes=2, seq_len=40, vector_size=32)
    assert m.requires_pretraining and not m.is_pretrained
    assert m.pretrain(seqs, epochs=10, progress=False) == {"words": 64, "documents": len(seqs)}
    x = encode(seqs, m.encoding)
    before, after = train_steps(m, x, y)
    assert after < 0.75 * before, (before, after)
    assert "weakest model of the study" in Doc2VecClassifier.__doc__
    m.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["README.md", "config.json", "model.safetensors"]
    expected = m(x[:16]).tolist()
    # A fresh interpreter where gensim cannot be imported predicts the same from the saved folder.
    code = f"""
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "gensim":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
from zoo.encoding import encode
from zoo.models.nlp import Doc2VecClassifier
m = Doc2VecClassifier.from_pretrained({str(tmp_path)!r}).eval()
print(json.dumps([m.is_pretrained, m(encode({seqs[:16]!r}, m.encoding)).tolist()]))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    pretrained, logits = json.loads(out.stdout.strip().splitlines()[-1])
    assert pretrained and np.allclose(logits, expected, atol=1e-5)


def test_hub_round_trip_identical(tmp_path):
    for name in NLP:
        torch.manual_seed(0)
        m = create_model(name, num_classes=3, seq_len=30, label_names=["a", "b", "c"]).eval()
        x = encode(["ACGTAGGCTA" * 3, "TTGACNNACG"], m.encoding)
        m.save_pretrained(tmp_path / name)
        again = type(m).from_pretrained(tmp_path / name).eval()
        assert torch.equal(m(x), again(x)), name
        assert again.label_names == ["a", "b", "c"]
