"""An optional dependency that is not installed (`pip install genozoo` without the `space` or `explain` extra) is
one sentence naming the extra, exit status 1, not a ModuleNotFoundError traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.errors import ENVIRONMENT_STATUS, classify

ROOT = Path(__file__).resolve().parents[1]
# The modules are made unimportable in the child, as in an installation without the extra.
HIDE = "import sys\nfor m in {hidden!r}: sys.modules[m] = None\nfrom zoo.cli import run\nsys.exit(run(sys.argv[1:]))"


def genozoo_without(hidden: tuple[str, ...], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.run([sys.executable, "-c", HIDE.format(hidden=hidden), *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.parametrize("hidden, args, extra", [
    (("gradio",), ("space", "--port", "0"), "space"),
    (("captum", "logomaker"), ("explain", "genonet_small.splice", "ACGT" * 15, "--method", "ig"), "explain"),
])
def test_a_missing_extra_is_one_sentence_naming_it(hidden, args, extra, tmp_path):
    out = genozoo_without(hidden, *args, "-o", str(tmp_path / "x.png")) if args[0] == "explain" else \
        genozoo_without(hidden, *args)
    assert out.returncode == ENVIRONMENT_STATUS, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith(f"genozoo: error: this needs {hidden[0]}, which is not installed")
    assert f"pip install 'genozoo[{extra}]'" in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_only_optional_modules_count_as_a_missing_extra():
    assert classify(ModuleNotFoundError("No module named 'gensim'", name="gensim"))[1] == ENVIRONMENT_STATUS
    assert classify(ModuleNotFoundError("No module named 'torch'", name="torch")) is None  # a broken install: a bug
