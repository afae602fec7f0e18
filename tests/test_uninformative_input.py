"""Input that carries no information (no A, C, G or T at all) or little (mostly padding or N) used to come back
as a confident prediction with only the generic padding warning. ``genozoo predict``, ``model.predict`` and the
space now flag such rows with one shared definition (:func:`zoo.predict.input_flags`): a ``flag`` column always
present (``no_bases`` / ``mostly_padding`` / empty) and a one-sentence warning counting them."""
from __future__ import annotations

import csv
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from use_models import run_cli, tiny_saved_model
from zoo.predict import MOSTLY_PADDING, NO_BASES, base_counts, input_flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "space"))

L = 40
OK = "ACGT" * 10
SEQS = {"allN": "N" * L, "lowern": "n" * L, "iupac": "RYKMSWN" * 5, "one": "A", "short": "ACGTACGTAC",
        "nrich": "N" * 30 + "ACGTACGTAC", "ok": OK, "rna": "ACGU" * 10, "long": OK * 3}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_saved_model(tmp_path_factory.mktemp("uninformative") / "tiny", L, ["neg", "pos"])


def test_one_definition_of_an_uninformative_input():
    assert base_counts(list(SEQS.values())).tolist() == [0, 0, 0, 1, 10, 10, 40, 40, 120]
    assert dict(zip(SEQS, input_flags(list(SEQS.values()), L))) == {
        "allN": NO_BASES, "lowern": NO_BASES, "iupac": NO_BASES,  # ambiguity codes are no bases, whatever they map to
        "one": MOSTLY_PADDING, "short": MOSTLY_PADDING, "nrich": MOSTLY_PADDING,
        "ok": "", "rna": "", "long": ""}
    assert input_flags(["N" * 5, "A"], None) == [NO_BASES, ""]  # no fixed input length: only "no bases" applies
    assert input_flags([OK[:20], OK[:19]], L) == ["", MOSTLY_PADDING]  # half the input is enough


def test_python_api_flags_rows_and_warns_in_one_sentence(model_dir):
    from zoo.predict import load_model

    model = load_model(model_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = model.predict([SEQS["allN"], SEQS["one"], OK, SEQS["allN"]])
    assert p.flags == [NO_BASES, MOSTLY_PADDING, "", NO_BASES]
    assert list(p.to_columns()) == ["id", "prob_neg", "prob_pos", "predicted", "flag"]
    assert p.to_records()[0]["flag"] == NO_BASES
    assert (p.lengths.sequences, p.lengths.no_bases, p.lengths.mostly_padding) == (4, 2, 1)
    messages = [str(w.message) for w in caught]
    assert ("2 of 4 sequences hold no A, C, G or T: their predictions carry no information; 1 of 4 sequences is "
            "mostly padding or N (bases in fewer than half of the model's 40 bp input): its prediction is "
            "unreliable") in messages
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clean = model.predict([OK, OK])
    assert clean.flags == ["", ""] and not caught


def test_cli_flag_column_is_always_there_and_stderr_counts_the_flagged_rows(model_dir, tmp_path):
    (tmp_path / "in.fa").write_text("".join(f">{k}\n{s}\n" for k, s in SEQS.items()))
    out = run_cli("predict", model_dir, "in.fa", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["id", "prob_neg", "prob_pos", "predicted", "flag"]  # appended: earlier columns keep place
    assert {r[0]: r[4] for r in rows[1:]} == dict(zip(SEQS, input_flags(list(SEQS.values()), L)))
    assert ("genozoo: warning: 3 of 9 sequences hold no A, C, G or T: their predictions carry no information; 3 of "
            "9 sequences are mostly padding or N (bases in fewer than half of the model's 40 bp input): their "
            "predictions are unreliable") in out.stderr.splitlines()
    # Nothing flagged: the same columns (a stable schema), an empty flag, no such warning.
    (tmp_path / "ok.fa").write_text(f">a\n{OK}\n>b\n{OK}\n")
    out = run_cli("predict", model_dir, "ok.fa", "-o", "ok.tsv", cwd=tmp_path)
    assert out.returncode == 0 and "no A, C, G or T" not in out.stderr and "unreliable" not in out.stderr
    lines = (tmp_path / "ok.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["id", "prob_neg", "prob_pos", "predicted", "flag"]
    assert all(line.endswith("\t") for line in lines[1:])


def test_space_note_and_predictions_use_the_same_definition(model_dir):
    from genozoo_space import Catalogue
    from space_input import padding_note
    from zoo.predict import load_model

    assert padding_note("N" * 101, 101) == "no A, C, G or T: this prediction carries no information"
    assert padding_note("A", 101) == "mostly padding (1 of 101 bp): this prediction is unreliable"
    assert padding_note("N" * 90 + "ACGTACGTAC", 101) == (
        "mostly padding or N (only 10 of the model's 101 bp are A, C, G or T): this prediction is unreliable")
    assert padding_note(10, 101) == "mostly padding (10 of 101 bp): this prediction is unreliable"  # a bare length
    assert padding_note("ACGT" * 15, 101) == "padded to 101" and padding_note("ACGT" * 26, 101) == "cropped to 101"
    model = load_model(model_dir)
    seqs = [SEQS["allN"], SEQS["one"], OK]
    pred = Catalogue._predictions(model, ["a", "b", "c"], seqs, np.full((3, 2), 0.5, dtype=np.float32))
    assert pred.flags == input_flags(seqs, L) == [NO_BASES, MOSTLY_PADDING, ""]
    assert pred.lengths.unreliable_message().startswith("1 of 3 sequences holds no A, C, G or T")


def test_explain_warns_as_predict_does(model_dir, tmp_path):
    from zoo.explain import attribute
    from zoo.predict import load_model

    model = load_model(model_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attribute(model, [SEQS["allN"], OK], "saliency")
    assert ("1 of 2 sequences holds no A, C, G or T: its prediction carries no information"
            in [str(w.message) for w in caught])
    out = run_cli("explain", model_dir, SEQS["one"], "--method", "saliency", "-o", "a.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert ("genozoo: warning: 1 of 1 sequence is mostly padding or N (bases in fewer than half of the model's 40 bp "
            "input): its prediction is unreliable") in out.stderr.splitlines()
