"""Fuzzing the input side, in process: random and mutated bytes (FASTA, FASTA.gz, CSV, TSV and raw noise) through
``genozoo predict``, ``genozoo explain``, fine-tuning's data loading and ``zoo.data.from_files``.

Each case must end with a correct result, or with one sentence and exit status 1/2 (a :class:`UserError` or an
environment failure that :func:`zoo.errors.classify` knows) - never a traceback, a hang or a half-written output.
Hypothesis runs derandomized with a fixed number of examples (about a minute on one core); the README's
reliability section gives the count this test runs (``FUZZ_CASES``).
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from use_models import tiny_saved_model
from zoo.errors import classify

#: Examples per target; 4 targets. The README's reliability section quotes the total (4 x this).
FUZZ_CASES = 250
#: The longest one case may take before it counts as a hang (seconds; the slowest real case takes about 1 s).
HANG_SECONDS = 20

GOOD = ["ACGTACGTTGCAACGTACGT", "TTGACCGTAGGCATCGATCG", "NNACGTRYACGTACGTACGA", "acgtacgtacgtacgtacgt"]


def _fasta(n: int) -> bytes:
    return "".join(f">s{i} label={i % 2}\n{GOOD[i % 4]}\n" for i in range(n)).encode()


def _csv(n: int, sep: str = ",") -> bytes:
    return (f"id{sep}sequence{sep}label\n" + "".join(f"r{i}{sep}{GOOD[i % 4]}{sep}{i % 2}\n"
                                                        for i in range(n))).encode()


SEEDS = {".fa": _fasta(12), ".fa.gz": gzip.compress(_fasta(12), mtime=0), ".csv": _csv(12), ".tsv": _csv(12, "\t")}


@st.composite
def inputs(draw) -> tuple[str, bytes]:
    """(file suffix, content): raw noise, a valid file, or a valid file with a few byte-level mutations."""
    kind = draw(st.sampled_from(["noise", "valid", "mutated", "mutated", "mutated"]))
    if kind == "noise":
        return draw(st.sampled_from([".fa", ".csv", ".txt", ".fa.gz"])), draw(st.binary(max_size=600))
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "encode"]))
            i = draw(st.integers(0, max(0, len(data) - 1)))
            if op == "flip" and data:
                data[i] ^= 1 << draw(st.integers(0, 7))
            elif op == "insert":
                data[i:i] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                    [b"\r", b"\r\n", b"\x00", b">", b",", b'"', b"\xef\xbb\xbf", b"\n\n", b"\t"]))
            elif op == "delete":
                del data[i:i + draw(st.integers(1, 16))]
            elif op == "truncate":
                del data[i:]
            elif op == "duplicate":
                data[i:i] = data[i:i + draw(st.integers(1, 40))]
            elif op == "encode" and suffix != ".fa.gz":  # the same text in another encoding or line ending
                text = bytes(data).decode("utf-8", "replace")
                data = bytearray(draw(st.sampled_from([
                    lambda t: t.encode("utf-16"), lambda t: b"\xef\xbb\xbf" + t.encode(),
                    lambda t: t.replace("\n", "\r").encode(), lambda t: t.replace("\n", "\r\n").encode()]))(text))
    return suffix, bytes(data)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_saved_model(tmp_path_factory.mktemp("fuzz") / "model", 20, ["no", "yes"])


def _write(folder, suffix: str, data: bytes):
    for p in folder.iterdir():
        p.unlink()
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def _check_cli(rc: int, err: str, output, folder) -> None:
    assert "Traceback" not in err, err
    assert rc in (0, 1, 2), (rc, err)
    if rc:
        errors = [ln for ln in err.splitlines() if ln.startswith("genozoo: error: ")]
        assert len(errors) == 1 and len(err.strip().splitlines()) <= 2, err  # one sentence (a warning at most)
        assert not output.exists(), "an output was written although the command failed"
    else:
        assert output.exists()
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]  # no temporaries left


def _check_api(fn) -> object | None:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the point: only classified errors may come out
        assert classify(e) is not None, f"{type(e).__name__}: {e}"
        assert "\n" not in str(e).strip(), str(e)
        return None


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    assert time.perf_counter() - t0 < HANG_SECONDS, "a case took far too long"
    return result


FUZZ = settings(max_examples=FUZZ_CASES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


@FUZZ
@given(case=inputs())
def test_fuzz_predict(case, model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("p", numbered=True)
    path = _write(folder, *case)
    out = folder / "out.csv"
    rc, stdout, err = _timed(lambda: _cli(["predict", str(model_dir), str(path), "-o", str(out), "-q"]))
    _check_cli(rc, err, out, folder)
    if rc == 0:  # a correct result: a CSV with one row per record, probabilities summing to 1
        rows = list(csv.DictReader(out.open()))
        assert all(abs(float(r["prob_no"]) + float(r["prob_yes"]) - 1) < 1e-5 for r in rows)


@FUZZ
@given(case=inputs())
def test_fuzz_explain(case, model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e", numbered=True)
    path = _write(folder, *case)
    out = folder / "numbers.csv"
    rc, stdout, err = _timed(lambda: _cli(["explain", str(model_dir), str(path), "--numbers", str(out),
                                           "--method", "saliency", "--max-sequences", "40"]))
    _check_cli(rc, err, out, folder)


@FUZZ
@given(case=inputs())
def test_fuzz_finetune_data(case, tmp_path_factory):
    from zoo.finetune import load_data

    folder = tmp_path_factory.mktemp("f", numbered=True)
    path = _write(folder, *case)
    result = _timed(lambda: _check_api(lambda: load_data(str(path))))
    if result is not None:
        ds = result[0]
        assert len(ds["train"]) > 0 and set(ds["train"].column_names) >= {"sequence", "label"}


@FUZZ
@given(case=inputs())
def test_fuzz_from_files(case, tmp_path_factory):
    from zoo.data import from_files

    folder = tmp_path_factory.mktemp("d", numbered=True)
    path = _write(folder, *case)
    result = _timed(lambda: _check_api(lambda: from_files(str(path))))
    if result is not None:
        assert sum(len(result[s]) for s in result) > 0
        for s in result:
            assert all(set(q) <= set("ACGTN") for q in result[s]["sequence"])
