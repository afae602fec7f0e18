"""``genozoo space`` as its own process on 127.0.0.1, as users meet it: bad uploads and odd text reach the user as
one sentence (no exception class, no traceback, no server path), parsing gives the same sequences or the same
refusal as the CLI's reader (:mod:`zoo.io`), the server log holds no traceback for a user's mistake, and the
server's memory stays bounded over mixed requests (a small version of ``bench/space.py``).
"""
from __future__ import annotations

import gzip
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from space_input import space_wording  # noqa: E402
from test_space import DEMO_ARCHS, DEMO_TASK, demo_hub, free_port  # noqa: E402,F401 (demo_hub: a fixture)

MODEL = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_hub):
    """The space started by ``genozoo space`` on a free port, its log in a file, and a client."""
    from gradio_client import Client

    log = tmp_path_factory.mktemp("log") / "space.log"
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "zoo", "space", "--port", str(port), "--device", "cpu",
                                 "--hub-dir", str(demo_hub), "--max-models", "4"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        yield proc, Client(f"http://127.0.0.1:{port}/", verbose=False), log, demo_hub
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def assert_one_sentence(message: str) -> None:
    text = message.strip()
    assert text and "\n" not in text, text
    assert "Traceback" not in text and not re.search(r"\b\w*(Error|Exception)\b", text), text
    assert "/tmp" not in text and str(ROOT) not in text and "gradio" not in text.lower(), text


def _cli_reading(path: Path):
    """What ``genozoo predict FILE`` reads from a file: its records, or the sentence it refuses it with
    (``None`` where the reader fails without one: then the space must still give a sentence)."""
    from zoo.errors import UserError
    from zoo.io import open_input

    try:
        with open_input(path) as inp:
            return list(inp)
    except UserError as e:
        return str(e).replace(repr(str(path)), repr(path.name)).replace(str(path), path.name)
    except Exception:
        return None


def _space_reading(client, path: Path | None, text: str = ""):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        _status, table, *_ = client.predict(MODEL, text, handle_file(str(path)) if path else None,
                                            api_name="/predict")
    except AppError as e:
        assert_one_sentence(str(e))
        return str(e)
    return [(r[0], r[1]) for r in table["data"]]  # (id, length)


def _bad_uploads(folder: Path) -> dict[str, Path]:
    seqs = [("a", "ACGT" * 25), ("b", "TTGCA" * 20)]
    fasta = "".join(f">{i}\n{s}\n" for i, s in seqs)
    files = {}
    files["binary"] = folder / "random.fa"
    files["binary"].write_bytes(bytes(random.Random(0).randrange(256) for _ in range(3000)))
    files["utf16"] = folder / "utf16.fa"
    files["utf16"].write_bytes(fasta.encode("utf-16"))
    whole = gzip.compress((fasta * 200).encode())
    files["truncated_gzip"] = folder / "cut.fa.gz"
    files["truncated_gzip"].write_bytes(whole[: len(whole) // 2])
    files["oversized"] = folder / "big.csv"
    files["oversized"].write_text("id,sequence\n" + "".join(f"s{i},{'ACGT' * 25}\n" for i in range(21_000)))
    files["no_sequence_column"] = folder / "nocolumn.csv"
    files["no_sequence_column"].write_text("name,label\nx,1\n")
    files["bom"] = folder / "bom.fa"
    files["bom"].write_bytes(b"\xef\xbb\xbf" + fasta.encode())
    files["cr_only"] = folder / "cr.fa"
    files["cr_only"].write_bytes(fasta.replace("\n", "\r").encode())
    files["gzip"] = folder / "ok.fa.gz"
    files["gzip"].write_bytes(gzip.compress(fasta.encode()))
    files["space_inside"] = folder / "space.fa"
    files["space_inside"].write_text(">a\nACGT ACGT\n")
    return files


def test_uploads_one_sentence_and_same_as_cli(server, tmp_path):
    _proc, client, _log, _hub = server
    for kind, path in _bad_uploads(tmp_path).items():
        got = _space_reading(client, path)
        cli = _cli_reading(path)
        if kind == "oversized":
            assert isinstance(got, str) and "more than the space accepts" in got and "big.csv" in got
        elif isinstance(cli, list):  # the CLI reads it: the space reads the same sequences (or refuses them
            if isinstance(got, str):  # where encoding refuses them, with the same sentence as predict)
                assert kind == "space_inside" and "has invalid character ' ' at position 5" in got, (kind, got)
            else:
                assert got == [(i, len(s)) for i, s in cli], (kind, got, cli)
        elif isinstance(cli, str):  # the CLI refuses it: the space refuses it with the same sentence
            assert got == space_wording(cli), (kind, got, cli)  # a hint naming a CLI option, reworded
        else:  # the CLI's reader fails without a sentence (zoo.io's to fix): the space still gives one
            assert isinstance(got, str) and path.name in got, (kind, got)
    assert "no sequence column" in _space_reading(client, tmp_path / "nocolumn.csv")


@pytest.mark.parametrize("text, expected", [
    (">a\rACGT\rACGT\r>b\rTTTT\r", [("a", 8), ("b", 4)]),         # CR-only line endings: two records
    ("\ufeff>a\nACGT\n", [("a", 4)]),                             # a byte-order mark before the first header
    ("ACGTACGT\r\nTTTT\r\n\r\nGG\n", [("seq1", 8), ("seq2", 4), ("seq3", 2)]),
    (">a\nACGT ACGT\n", "sequence 'a' has invalid character ' ' at position 5"),  # refused, as in a file
])
def test_pasted_text_parses_as_files_do(server, tmp_path, text, expected):
    _proc, client, _log, _hub = server
    got = _space_reading(client, None, text)
    if isinstance(expected, str):
        assert isinstance(got, str) and expected in got, got
    else:
        assert got == expected
    if text.lstrip("\ufeff").startswith(">"):  # the same text as a FASTA file through the CLI's reader
        path = tmp_path / "same.fa"
        path.write_bytes(text.encode())
        cli = _cli_reading(path)
        if isinstance(cli, list):
            assert isinstance(expected, str) or [(i, len(s)) for i, s in cli] == expected


def test_memory_bounded_and_log_clean(server):
    """Mixed requests (every task of the space: predict, compare, explain): resident memory after all of them
    within 1.25x of its value after the first 50; and no traceback in the log for any user error above."""
    import importlib.util

    from genozoo_space import Catalogue

    spec = importlib.util.spec_from_file_location("bench_space", ROOT / "bench" / "space.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    proc, client, log, hub = server
    out = bench.mixed_requests(client.src, Catalogue(hub, "cpu"), 250, 2, proc.pid, seed=1)
    text = log.read_text()
    # An internal error's traceback is in the server's log: show it with the failed request.
    assert out["failed"] == 0, (out["first_error"], text[-6000:])
    assert out["ratio"] <= 1.25, out
    assert "Traceback" not in text, text[-3000:]
