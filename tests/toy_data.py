"""A tiny planted-motif toy set shared by the model-family tests (fast to generate, trivially learnable)."""
import numpy as np
import torch

MOTIF = "GGGGCGGGGC"  # SP1 GC box


def planted(n: int = 256, length: int = 40, seed: int = 0) -> tuple[list[str], torch.Tensor]:
    """Random sequences; every second one (label 1) carries MOTIF at a random position."""
    rng = np.random.default_rng(seed)
    seqs, labels = [], np.arange(n) % 2
    for label in labels:
        s = "".join(rng.choice(list("ACGT"), length))
        if label:
            p = int(rng.integers(0, length - len(MOTIF) + 1))
            s = s[:p] + MOTIF + s[p + len(MOTIF):]
        seqs.append(s)
    return seqs, torch.tensor(labels)
