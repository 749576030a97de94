"""Intermediate latents of K-step rollouts and what each one should know (the probe targets).

For every window the model encodes the context into h_0 and rolls K outer steps under the
window's logged plan (its future known inputs and interventions). Outer step k covers time
steps ((k-1)P, kP] of the future, P = patch_len, so a probe reading h_k is asked about the
targets and events of patch k. Three latent kinds:

- ``imagined``: ``model.imagine`` — no future observation, the deferred/what-if regime;
- ``teacher``: ``model.rollout(h0, drive, obs)`` with the future observations embedded — the
  upper reference (h_k has seen patch k itself), built the way ``WorldModel.loss`` builds the
  teacher-forced C_max rollout.

Example (an untrained tiny model on a small simulated fleet; ``task`` may be a task file)::

    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> spec = TaskSpec(name="fleet", source={"loader": "plant", "series": 2, "steps": 800, "step_minutes": 15},
    ...                 target=["cpu_util", "latency_p95"], event=["slo_breach"], freq="15min",
    ...                 context_length=32, horizon=8, series_id="series")
    >>> model = WorldModel(ModelConfig.for_task("tiny", spec))
    >>> task = probe_task(spec, model.cfg.context_length, model.cfg.patch_len, k_max=4)
    >>> task.spec.horizon                                   # K_max x patch_len
    16
    >>> data = collect(model, task, "test", k_max=4, stride=8, mode="imagined")
    >>> data.latents.shape                                  # (N, K, D): h_1 .. h_4
    (38, 4, 16)
    >>> data.target.shape                                   # (N, K, P, Ct): what each h_k should know
    (38, 4, 4, 2)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from tsloop.data.spec import TaskSpec
from tsloop.data.task import TelemetryTask, load_task
from tsloop.errors import SpecError

MODES = ("imagined", "teacher")


@dataclass
class ProbeData:
    """Latents and targets of N windows, K outer steps, P steps per patch."""

    latents: np.ndarray  # (N, K, D) h_1 .. h_K
    target: np.ndarray  # (N, K, P, Ct) scaled units
    target_raw: np.ndarray  # (N, K, P, Ct) data units
    detail: np.ndarray  # (N, K, P, Ct) scaled target minus its centred moving average (high-frequency part)
    mask: np.ndarray  # (N, K, P, Ct) 1 = observed
    event: np.ndarray  # (N, K, P, Ce) in {0, 1}
    series_index: np.ndarray  # (N,)
    head_target: np.ndarray  # (N, K, P, Ct) the model's own forecast (decoder + direct path where K*P = its horizon), median, data units
    head_scaled: np.ndarray  # (N, K, P, Ct) the same in scaled units
    head_detail: np.ndarray  # (N, K, P, Ct) its high-frequency part (scaled units, as ``detail``)
    head_event: np.ndarray  # (N, K, P, Ce) the model's own event probabilities
    # the model's instance normalisation of each window (RevIN, ``instance_norm``): its latents
    # know the targets only relative to their own context's level and spread; None = 0 and 1
    shift: np.ndarray | None = None  # (N, 1, Ct) scaled units
    scale: np.ndarray | None = None  # (N, 1, Ct)

    def level(self) -> np.ndarray:
        """The context level of each window, (N, 1, 1, Ct), broadcastable to (N, K, P, Ct)."""
        n, ct = self.target.shape[0], self.target.shape[-1]
        return (np.zeros((n, 1, ct)) if self.shift is None else self.shift)[:, None].astype(np.float64)

    def features(self) -> np.ndarray:
        """Probe inputs (N, K, D + 2 Ct): h_k with the context's level and log spread, which the
        decoder also gets (they are known at forecast time, and absent from h_k under instance norm)."""
        k = self.latents.shape[1]
        if self.shift is None:
            return self.latents
        stats = np.concatenate([self.shift[:, 0], np.log(self.scale[:, 0])], axis=-1)  # (N, 2 Ct)
        return np.concatenate([self.latents, np.repeat(stats[:, None], k, axis=1)], axis=-1)

    @property
    def shape(self) -> tuple[int, int, int]:
        n, k, p = self.target.shape[:3]
        return n, k, p


def probe_task(task: str | TaskSpec, context_length: int, patch_len: int, k_max: int,
               frame=None) -> TelemetryTask:
    """The task with the model's context and a horizon of ``k_max`` patches (the probes' windows)."""
    spec = task if isinstance(task, TaskSpec) else TaskSpec.from_yaml(task)
    spec = dataclasses.replace(spec, context_length=context_length, horizon=k_max * patch_len)
    return load_task(spec, frame)


def moving_detail(y: np.ndarray, width: int) -> np.ndarray:
    """y (N, H, C) minus its centred moving average over ``width`` steps (edges: shorter windows)."""
    kernel = np.ones(width)
    pad = width // 2
    total = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="full")[pad:pad + len(v)], 1, y)
    count = np.convolve(np.ones(y.shape[1]), kernel, mode="full")[pad:pad + y.shape[1]]
    return y - total / count[None, :, None]


@torch.no_grad()
def collect(model, task: TelemetryTask, part: str, *, k_max: int, stride: int, mode: str = "imagined",
            batch_size: int = 128, detail_width: int | None = None, max_windows: int | None = None) -> ProbeData:
    """Roll ``k_max`` outer steps from every ``stride``-th window of ``part`` and keep h_1..h_K and targets."""
    if mode not in MODES:
        raise SpecError(f"latent mode must be one of {MODES}, got {mode!r}")
    cfg = model.cfg
    p = cfg.patch_len
    if task.spec.horizon < k_max * p:
        raise SpecError(f"task horizon {task.spec.horizon} < K x patch_len = {k_max * p}; build it with probe_task")
    dataset = task.dataset(part, stride=stride)
    if max_windows is not None and len(dataset) > max_windows:  # evenly spaced subset, deterministic
        keep = np.linspace(0, len(dataset) - 1, max_windows).round().astype(int)
        dataset.index = dataset.index[keep]
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    median = cfg.median_index
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        normed, shift, scale = model.normalise(batch)  # the model's own target units (instance norm)
        h0 = model.encode(normed)
        if mode == "imagined":
            h = model.imagine(h0, normed)  # (B, K, D)
        else:
            drive = model.drive_embed.future(normed)  # (B, K, D)
            obs = model.future_obs(normed, model.obs_embed)  # (B, K, D) embedded future observations
            h = model.rollout(h0, drive, obs)
        h = h[:, :k_max]
        # the model's own forecast from h_1..h_K: its decoder plus the direct linear path, as forecasts get it,
        # where the probed span is the model's horizon; the path covers no other span, so there the decoder alone
        if k_max * p == cfg.horizon:
            quantiles, logits = model.decode_forecast(h, normed)  # (B, K*P, Ct, Q), (B, K*P, Ce)
        else:
            quantiles, logits = model.decode(h)
        quantiles = quantiles * scale[..., None] + shift[..., None]  # back to the task's scaled units
        parts.setdefault("latents", []).append(h.numpy())
        parts.setdefault("head_q", []).append(quantiles[..., median].numpy())
        parts.setdefault("head_event", []).append(torch.sigmoid(logits).numpy())
        parts.setdefault("shift", []).append(shift.numpy())
        parts.setdefault("scale", []).append(scale.numpy())
        for key in ("future_target", "future_target_mask", "future_event", "series_index"):
            parts.setdefault(key, []).append(batch[key].numpy())
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    n = cat["future_target"].shape[0]
    index = cat["series_index"]
    y = cat["future_target"][:, : k_max * p]  # (N, K*P, Ct)
    raw = task.inverse_transform(y.astype(np.float64), index)
    head_scaled = cat["head_q"][:, : k_max * p].astype(np.float64)
    head = task.inverse_transform(head_scaled, index)
    width = detail_width or 2 * p + 1
    detail = moving_detail(y.astype(np.float64), width)

    def per_patch(x: np.ndarray) -> np.ndarray:  # (N, K*P, C) -> (N, K, P, C)
        return x.reshape(n, k_max, p, x.shape[-1])

    return ProbeData(
        latents=cat["latents"],
        target=per_patch(y),
        target_raw=per_patch(raw),
        detail=per_patch(detail),
        mask=per_patch(cat["future_target_mask"][:, : k_max * p]),
        event=per_patch(cat["future_event"][:, : k_max * p]),
        series_index=index,
        head_target=per_patch(head),
        head_scaled=per_patch(head_scaled),
        head_detail=per_patch(moving_detail(head_scaled, width)),
        head_event=per_patch(cat["head_event"][:, : k_max * p]),
        shift=cat["shift"],
        scale=cat["scale"],
    )
