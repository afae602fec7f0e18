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


def train_steps(model, x: torch.Tensor, y: torch.Tensor, steps: int = 60, lr: float = 1e-2) -> tuple[float, float]:
    """Loss on the whole toy set before and after ``steps`` Adam steps on batches of 64."""
    model.eval()
    with torch.no_grad():
        before = model.loss(model(x), y).item()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=gen)[:64]
        loss = model.loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = model.loss(model(x), y).item()
    return before, after
