"""Probes: read a latent h_k and predict what patch k holds. Ridge (linear) and a small MLP.

Both take latents ``x`` (N, K, D) and targets ``y`` (N, K, Q) (one flattened row of targets per
window and step) and choose their regularisation on validation windows only:

- :class:`RidgeProbe` — one closed-form ridge per outer step k (its own weights), the penalty
  chosen per step and per target group from a grid by validation MSE. Latents are standardised
  per step with training statistics.
- :class:`MLPProbe` — one small MLP shared across steps, fed [h_k; one-hot(k)], trained with
  AdamW on minibatches; weight decay and the stopping point chosen by validation loss. Loss is
  MSE for numeric groups and BCE for binary (event) groups.

Example (latents whose targets are linear in h_k, which the ridge probe recovers)::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x_tr, x_va, x_te = (rng.normal(size=(n, 4, 8)) for n in (200, 50, 50))   # (N, K, D)
    >>> w = rng.normal(size=(8, 3))
    >>> y_tr, y_va = x_tr @ w, x_va @ w                                         # (N, K, Q)
    >>> probe = RidgeProbe().fit(x_tr, y_tr, x_va, y_va, groups={"dense": slice(0, 3)})
    >>> y_hat = probe.predict(x_te)          # (N, K, Q)
    >>> bool(np.allclose(y_hat, x_te @ w, atol=0.01)), probe.chosen["dense"]   # penalty chosen per step
    (True, array([0.0001, 0.0001, 0.0001, 0.0001]))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # penalty per training row
MLP_WEIGHT_DECAY = (1e-4, 1e-2)


def _standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    return torch.as_tensor((x - mean) / std, dtype=torch.float64)


@dataclass
class RidgeProbe:
    """Per-step ridge regression with the penalty chosen on validation (see module docstring)."""

    grid: tuple[float, ...] = RIDGE_GRID
    chosen: dict[str, np.ndarray] = field(default_factory=dict)  # group -> (K,) chosen penalty

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
            groups: dict[str, slice], binary: tuple[str, ...] = ()) -> "RidgeProbe":
        """Fit on (x, y) (N, K, D), (N, K, Q); choose per group and step on (x_val, y_val)."""
        self.mean, self.std = x.mean(0), x.std(0) + 1e-8  # (K, D)
        self.y_mean = y.mean(0)  # (K, Q)
        xs = _standardise(x, self.mean, self.std).transpose(0, 1)  # (K, N, D)
        yc = torch.as_tensor(y - self.y_mean, dtype=torch.float64).transpose(0, 1)  # (K, N, Q)
        s, v = torch.linalg.eigh(xs.transpose(1, 2) @ xs)  # (K, D), (K, D, D)
        proj = v.transpose(1, 2) @ (xs.transpose(1, 2) @ yc)  # (K, D, Q)
        xv = _standardise(x_val, self.mean, self.std).transpose(0, 1)  # (K, Nv, D)
        yv = torch.as_tensor(y_val - self.y_mean, dtype=torch.float64).transpose(0, 1)
        n = x.shape[0]
        weights = [v @ (proj / (s[..., None] + lam * n)) for lam in self.grid]  # each (K, D, Q)
        errors = torch.stack([((xv @ w - yv) ** 2).mean(1) for w in weights])  # (G, K, Q)
        self.weight = torch.zeros_like(weights[0])
        for name, cols in groups.items():
            best = errors[:, :, cols].mean(-1).argmin(0)  # (K,)
            for k in range(x.shape[1]):
                self.weight[k, :, cols] = weights[int(best[k])][k, :, cols]
            self.chosen[name] = np.asarray(self.grid)[best.numpy()]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        xs = _standardise(x, self.mean, self.std).transpose(0, 1)  # (K, N, D)
        return (xs @ self.weight).transpose(0, 1).numpy() + self.y_mean


class _MLP(nn.Module):
    def __init__(self, d_in: int, d_out: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class MLPProbe:
    """A small MLP over [h_k; one-hot(k)], shared across steps, one per target group."""

    hidden: int = 64
    steps: int = 400
    batch_size: int = 512
    lr: float = 3e-3
    weight_decays: tuple[float, ...] = MLP_WEIGHT_DECAY
    seed: int = 0
    chosen: dict[str, float] = field(default_factory=dict)  # group -> chosen weight decay

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        n, k, _ = x.shape
        xs = torch.as_tensor((x - self.mean) / self.std, dtype=torch.float32)
        onehot = torch.eye(k).expand(n, k, k)
        return torch.cat([xs, onehot], dim=-1).reshape(n * k, -1)  # (N*K, D + K)

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
            groups: dict[str, slice], binary: tuple[str, ...] = ()) -> "MLPProbe":
        self.mean, self.std = x.mean(0), x.std(0) + 1e-8
        self.k = x.shape[1]
        self.y_mean, self.y_std = y.mean((0, 1)), y.std((0, 1)) + 1e-8  # numeric targets standardised
        xt, xv = self._inputs(x), self._inputs(x_val)
        yt = torch.as_tensor(y.reshape(-1, y.shape[-1]), dtype=torch.float32)
        yv = torch.as_tensor(y_val.reshape(-1, y.shape[-1]), dtype=torch.float32)
        self.nets: dict[str, tuple[slice, bool, _MLP]] = {}
        gen = torch.Generator().manual_seed(self.seed)
        for name, cols in groups.items():
            is_bin = name in binary
            t_tr, t_va = self._scale(yt[:, cols], cols, is_bin), self._scale(yv[:, cols], cols, is_bin)
            loss_fn = nn.BCEWithLogitsLoss() if is_bin else nn.MSELoss()
            best = (float("inf"), None, None)
            for wd in self.weight_decays:
                torch.manual_seed(self.seed)
                net = _MLP(xt.shape[1], t_tr.shape[1], self.hidden)
                opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=wd)
                for step in range(1, self.steps + 1):
                    idx = torch.randint(xt.shape[0], (self.batch_size,), generator=gen)
                    loss = loss_fn(net(xt[idx]), t_tr[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if step % 100 == 0:  # early stopping on validation: keep the best state seen
                        with torch.no_grad():
                            val = float(loss_fn(net(xv), t_va))
                        if val < best[0]:
                            best = (val, wd, copy.deepcopy(net.state_dict()))
            net.load_state_dict(best[2])
            self.chosen[name] = best[1]
            self.nets[name] = (cols, is_bin, net.eval())
        return self

    def _scale(self, y: torch.Tensor, cols: slice, is_bin: bool) -> torch.Tensor:
        if is_bin:
            return y
        return (y - torch.as_tensor(self.y_mean[cols], dtype=torch.float32)) / torch.as_tensor(
            self.y_std[cols], dtype=torch.float32)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (N, K, Q): numeric groups in target units, binary groups as probabilities."""
        n = x.shape[0]
        xin = self._inputs(x)
        out = np.zeros((n * self.k, len(self.y_mean)))
        for cols, is_bin, net in self.nets.values():
            z = net(xin)
            out[:, cols] = (torch.sigmoid(z).numpy() if is_bin
                            else z.numpy() * self.y_std[cols] + self.y_mean[cols])
        return out.reshape(n, self.k, -1)


PROBES = {"ridge": RidgeProbe, "mlp": MLPProbe}
