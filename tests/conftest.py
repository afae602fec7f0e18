"""Shared test set-up: no network, no telemetry, one torch thread per test process, paths to the real data."""
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

pytest_plugins = ["hubserver"]  # the `hub_server` fixture: a loopback Hugging Face Hub (tests/hubserver.py)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """An in-process CLI command sets torch's threads (its ``--threads`` default); the next test starts with the
    one thread again, so its floating-point results do not depend on which tests ran before it."""
    yield
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark files of ../shared/data; tests that need them skip when the folder is absent."""
    if not (SHARED_DATA / "SHA256SUMS").exists():
        pytest.skip(f"real benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA
