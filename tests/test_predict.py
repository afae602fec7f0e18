"""Prediction: model.predict with label names, the length policy, exact reverse-complement symmetry, streaming, and
the command line giving the very numbers the Python API gives (FASTA, FASTA.gz, CSV, stdin)."""
from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import zoo
from zoo.encoding import encode, reverse_complement
from zoo.errors import UserError
from zoo.predict import Predictions, predict, predict_records

from use_models import ROOT, run_cli, trained


@pytest.fixture(scope="session")
def kmer(tmp_path_factory):
    return trained("kmer", tmp_path_factory.mktemp("use-models"))


def _sequences(n: int, length: int, seed: int = 1) -> list[str]:
    from zoo.data import sample_planted

    return sample_planted(n, length, seed=seed).sequences()


def test_trained_fixture_learned_the_motif(kmer):
    assert kmer.accuracy > 0.8  # the tests below explain and fine-tune a model that really learned something


def test_predict_gives_probabilities_with_label_names(kmer):
    seqs = kmer.data["test"]["sequence"][:50]
    p = kmer.model.predict(seqs, ids=kmer.data["test"]["id"][:50])
    assert isinstance(p, Predictions) and len(p) == 50 and p.label_names == ["absent", "present"]
    assert p.probabilities.dtype == np.float32 and p.probabilities.shape == (50, 2)
    np.testing.assert_allclose(p.probabilities.sum(1), 1, atol=1e-6)
    cols = p.to_columns()
    assert list(cols) == ["id", "prob_absent", "prob_present", "predicted", "flag"]
    assert cols["predicted"] == [["absent", "present"][i] for i in p.probabilities.argmax(1)]
    assert p.to_records()[3]["id"] == kmer.data["test"]["id"][3]
    # The same numbers as encoding by hand and running the plain model, within float32 rounding: predict runs the
    # model's exact inference rewrite (gathered kernel columns, see tests/test_inference.py).
    with torch.no_grad():
        ref = kmer.model.probabilities(kmer.model.eval()(encode(seqs, kmer.model.encoding))).numpy()
    np.testing.assert_allclose(p.probabilities, ref, rtol=0, atol=1e-5)
    labels = np.array(kmer.data["test"]["label"][:50])
    assert (p.predicted_index == labels).mean() > 0.75


def test_wrong_lengths_follow_the_declared_policy_and_are_counted(kmer):
    seqs = ["ACGT" * 5, "GATTACA" * 20, _sequences(1, 60)[0]]
    with pytest.warns(UserWarning, match=r"1 sequence\(s\) shorter .* 60 bp were padded and 1 longer than 60 bp"):
        p = kmer.model.predict(seqs)
    assert (p.lengths.padded, p.lengths.cropped) == (1, 1)
    with torch.no_grad():
        ref = kmer.model.probabilities(kmer.model(encode(seqs, kmer.model.encoding))).numpy()
    # padded/cropped exactly as zoo.encoding declares (within float32 rounding of the inference rewrite)
    np.testing.assert_allclose(p.probabilities, ref, rtol=0, atol=1e-5)
    with pytest.raises(UserError, match="far longer than this model's 60 bp"):
        kmer.model.predict(["A" * 601])
    with pytest.warns(UserWarning, match=r"^1 sequence\(s\) longer than 60 bp were cropped \(at the right end\)"):
        assert len(kmer.model.predict(["A" * 601], max_length=1000)) == 1
    # A limit under the model's length refuses by the limit, not as "far longer than the model's input".
    with pytest.raises(UserError, match=r"^sequence 'seq1' is 60 bp long, longer than the 10 bp asked for"):
        kmer.model.predict([_sequences(1, 60)[0]], max_length=10)
    for bad in (0, -1):
        with pytest.raises(UserError, match="must be at least 1 bp"):
            kmer.model.predict(["ACGT"], max_length=bad)


@pytest.mark.parametrize("arch", ["deepram_conv1d_onehot", "deepram_recurrent_embed", "cnn_zeng_2_conv2d",
                                  "lstm_baseline", "cnn_deepdbp"])
def test_reverse_complement_averaging_is_exactly_symmetric(arch):
    torch.manual_seed(0)
    model = zoo.create_model(arch, num_classes=3, seq_len=40)
    # Equal, shorter (padded) and longer (cropped) sequences, with ambiguity codes.
    seqs = _sequences(6, 40) + ["ACGTNNACGTRY" * 2, _sequences(1, 57, seed=3)[0]]
    with pytest.warns(UserWarning):
        fwd = predict(model, seqs, reverse_complement=True)
    with pytest.warns(UserWarning):
        rev = predict(model, reverse_complement(seqs), reverse_complement=True)
    np.testing.assert_array_equal(fwd.probabilities, rev.probabilities)
    plain = predict(model, seqs[:6]).probabilities
    assert not np.array_equal(plain, predict(model, reverse_complement(seqs[:6])).probabilities)


def test_predict_records_streams_lazily(kmer):
    endless = ((f"s{i}", "ACGT" * 15) for i in itertools.count())  # an input with no end
    batches = list(itertools.islice(predict_records(kmer.model, endless, batch_size=8), 3))
    assert [len(b) for b in batches] == [8, 8, 8] and batches[2].ids[0] == "s16"


def test_device_choice(kmer):
    assert len(predict(kmer.model, ["ACGT" * 15], device="cpu")) == 1
    assert len(predict(kmer.model, ["ACGT" * 15], device="auto")) == 1  # CUDA when present
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            predict(kmer.model, ["ACGT" * 15], device="cuda")
    else:
        gpu = predict(kmer.model, ["ACGT" * 15], device="cuda").probabilities
        np.testing.assert_allclose(gpu, predict(kmer.model, ["ACGT" * 15]).probabilities, atol=1e-5)
    assert next(kmer.model.parameters()).device.type == "cpu"  # the model is left where it was


def _read_csv(text: str) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    probs = np.array([[np.float32(v) for v in r[1:-2]] for r in body], dtype=np.float32)
    return header, [r[0] for r in body], probs, [r[-2] for r in body]


def test_cli_predictions_equal_python_predictions(kmer, tmp_path):
    test = kmer.data["test"]
    ids, seqs = test["id"][:300], test["sequence"][:300]
    seqs[5] = seqs[5][:50]  # one shorter sequence: padded in both paths
    fasta = "".join(f">{i} some description\n{s[:30]}\n{s[30:]}\n" for i, s in zip(ids, seqs))
    (tmp_path / "in.fa.gz").write_bytes(gzip.compress(fasta.encode()))
    with open(tmp_path / "in.csv", "w") as fh:
        fh.write("name,dna,other\n" + "".join(f"{i},{s},x\n" for i, s in zip(ids, seqs)))
    with pytest.warns(UserWarning):
        ref = kmer.model.predict(seqs, ids=ids, batch_size=64)
    with pytest.warns(UserWarning):
        ref_rc = kmer.model.predict(seqs, ids=ids, reverse_complement=True)

    out = run_cli("predict", kmer.folder, tmp_path / "in.fa.gz", "-o", tmp_path / "p.csv", "--batch-size", "64")
    assert out.returncode == 0, out.stderr
    assert "1 sequence(s) shorter than the model's 60 bp were padded" in out.stderr
    header, got_ids, probs, labels = _read_csv((tmp_path / "p.csv").read_text())
    assert header == ["id", "prob_absent", "prob_present", "predicted", "flag"]
    assert got_ids == ids and labels == ref.predicted
    np.testing.assert_array_equal(probs, ref.probabilities)  # digit for digit (9 significant digits = float32)

    out = run_cli("predict", kmer.folder, tmp_path / "in.csv", "--sequence-column", "dna", "--rc")
    assert out.returncode == 0, out.stderr
    _, got_ids, probs, _ = _read_csv(out.stdout)  # default output: standard output
    assert got_ids == ids
    np.testing.assert_array_equal(probs, ref_rc.probabilities)

    out = run_cli("predict", kmer.folder, "-", "-q", stdin=fasta)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["genozoo: warning: 1 sequence(s) shorter than the model's 60 bp were padded "
                                       "(at the right end), as the model's encoding declares"]  # -q: no summary
    np.testing.assert_array_equal(_read_csv(out.stdout)[2], ref.probabilities)


def test_interrupted_output_leaves_no_file(kmer, tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\n" + "ACGT" * 15 + "\n" + ">b\nACGTXACGT\n")
    with pytest.raises(UserError, match="sequence 'b' has invalid character 'X' at position 5"):
        zoo.predict.predict_file(kmer.model, bad, tmp_path / "out.csv", progress=False)
    assert list(tmp_path.iterdir()) == [bad]  # neither the output nor its temporary file


def test_bench_streams_with_bounded_memory(tmp_path):
    """bench/predict.py on 20,000 sequences (the README's figures are for more): the CLI's peak RSS < 1 GB, every
    row written (the script exits 1 otherwise), the load average printed with the figures."""
    out = subprocess.run([sys.executable, "bench/predict.py", "--arch", "deepram_conv1d_onehot", "--n", "20000",
                          "--threads", "1", "--repeats", "1", "--json", str(tmp_path / "r.json")], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    (result,) = json.loads((tmp_path / "r.json").read_text())
    assert result["sequences"] == 20000 and result["peak_rss_mb"] < 1024
    assert result["sequences_per_cpu_second"] > 0 and len(result["load_average"]) == 2
    assert "load (1 min)" in out.stdout


def test_image_cnns_predict_channels_last_and_stay_contiguous():
    """The k-mer image CNNs run channels-last on the CPU (faster with oneDNN): same probabilities as the plain
    contiguous forward pass, and the model's own layout is left as it was."""
    torch.manual_seed(0)
    model = zoo.create_model("cnn_zeng_4_conv2d", seq_len=60).eval()
    seqs = ["".join(s) for s in np.random.default_rng(0).choice(list("ACGT"), size=(16, 60))]
    with torch.no_grad():
        expected = model.probabilities(model(encode(seqs, model.encoding))).numpy()
    got = model.predict(seqs).probabilities
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert all(p.is_contiguous() for p in model.parameters())


@pytest.mark.parametrize("threads", [-1, "many"])
def test_predict_refuses_a_thread_count_that_is_no_count(kmer, threads):
    with pytest.raises(UserError, match="must be a positive whole number of CPU threads"):
        kmer.model.predict(["ACGT" * 15], threads=threads)
