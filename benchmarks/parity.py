"""What the parity scripts (`emorl_parity.py`, `genesis_parity.py`, `gqn_parity.py`) share: prepared standard-normal draws
handed to a reference implementation in the order it asks for them, and a relative difference."""
import torch


class Draws:
    "Prepared standard-normal draws, handed out in order; each request must ask for the prepared draw's shape."
    def __init__(self, draws): self.draws, self.used = list(draws), 0

    def take(self, shape) -> torch.Tensor:
        d = self.draws[self.used]; self.used += 1
        if tuple(d.shape) != tuple(shape): raise RuntimeError(f"draw {self.used - 1}: asked for {tuple(shape)}, prepared {tuple(d.shape)}")
        return d

    def __call__(self, shape, dtype, device) -> torch.Tensor:
        "Stand-in for torch.distributions.normal._standard_normal."
        return self.take(shape).to(dtype=dtype, device=device)


def rel(a, b) -> float:
    "Largest absolute difference relative to the largest magnitude of the reference `b`."
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
