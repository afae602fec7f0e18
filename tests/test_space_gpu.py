"""The space on a GPU: ``--device auto`` picks CUDA where one is visible, and every model's predictions there
match the CPU's within 1e-4. Runs only where a CUDA GPU is visible; skips, saying so, elsewhere."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_space import DEMO_TASK, demo_hub  # noqa: E402,F401 (demo_hub: a fixture)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU is visible")


def test_auto_picks_cuda_and_matches_the_cpu(demo_hub):
    from genozoo_space import Catalogue

    gpu = Catalogue(demo_hub, "auto", max_models=64)
    cpu = Catalogue(demo_hub, "cpu", max_models=64)
    assert gpu.device.type == "cuda"
    for task in gpu.tasks():
        ids, seqs = gpu.examples(task, n=8)
        for name in gpu.models_for(task):
            on_gpu = gpu.predict(name, seqs, ids).probabilities
            on_cpu = cpu.predict(name, seqs, ids).probabilities
            np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-4, err_msg=name)
    # An explanation runs on the GPU too.
    name = gpu.models_for(DEMO_TASK)[0]
    image, caption = gpu.explain(name, seqs[0], ids[0])
    assert image.size[0] > 300 and name in caption
