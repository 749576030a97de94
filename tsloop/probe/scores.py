"""Probe scores per K, with window weights so that a bootstrap is a reweighting, not a recompute.

For a rollout of K outer steps the *intermediate* latents are h_1 .. h_{K-1} (deferred decoding
never decodes them); every score for K pools those steps, i.e. future time steps
[0, (K-1) * P). Scores (per channel c):

- ``dense_r2``: the targets in the model's scaled units (standardised; log space for log-transformed
  channels), R² against the pooled test mean; ``dense_r2_raw`` / ``dense_mae``: in data units
  (R² there is dominated by the heavy tails that the log transforms tame);
- ``detail_r2``: the high-frequency part (target minus its centred moving average, scaled units);
- ``step_auprc`` / ``step_recall``: per time step, is there an event (recall at a false-alarm rate);
- ``win_auprc`` / ``win_recall``: does the window hold an event (score = max over its steps);
- ``timing_mae`` / ``timing_within1``: among windows with an event, |predicted - true| first-event
  step in time steps; the prediction is the first step whose score crosses a threshold chosen
  on validation (argmax if none does). ``timing_const_mae`` is the best constant guess (the
  test median), a floor any useful probe must beat.

Example (the test windows of an untrained tiny model, scored on its own decoder: what the
``head`` probe family does; ``probe_model`` builds these for every family)::

    >>> import numpy as np
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> from tsloop.probe.latents import collect, probe_task
    >>> spec = TaskSpec(name="fleet", source={"loader": "plant", "series": 2, "steps": 800, "step_minutes": 15},
    ...                 target=["cpu_util", "latency_p95"], event=["slo_breach"], freq="15min",
    ...                 context_length=32, horizon=8, series_id="series")
    >>> model = WorldModel(ModelConfig.for_task("tiny", spec))
    >>> task = probe_task(spec, model.cfg.context_length, model.cfg.patch_len, k_max=4)
    >>> truth = collect(model, task, "test", k_max=4, stride=8)
    >>> pred = Prediction(truth.head_scaled, truth.head_target, truth.head_detail, truth.head_event)
    >>> tau = np.full(1, 0.5)                  # timing threshold per event channel (choose_threshold on val)
    >>> scorer = Scorer(pred, truth, ks=(2, 4), thresholds=tau)
    >>> point = scorer(np.ones(scorer.n))      # {(K, name, channel): value}; channel -1 = mean
    >>> sorted({name for _, name, _ in point})[:4]
    ['dense_mae', 'dense_r2', 'dense_r2_raw', 'detail_r2']
    >>> table = bootstrap([scorer, scorer], reps=20)   # one scorer per seed: {key: (mean, lo, hi)}
    >>> mean, lo, hi = table[(4, "dense_r2", -1)]
    >>> bool(lo <= mean <= hi)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsloop.metrics import weighted_ap, weighted_recall
from tsloop.probe.latents import ProbeData


@dataclass
class Prediction:
    """What one probe family says about the test windows (shapes as in ProbeData)."""

    dense: np.ndarray  # (N, K, P, Ct) scaled units (log space for log-transformed channels)
    dense_raw: np.ndarray  # (N, K, P, Ct) data units
    detail: np.ndarray  # (N, K, P, Ct) scaled units
    event: np.ndarray  # (N, K, P, Ce) scores (higher = more likely)


def first_index(flags: np.ndarray) -> np.ndarray:
    """First True along the last axis, -1 if none: (..., T) -> (...)."""
    any_ = flags.any(-1)
    return np.where(any_, flags.argmax(-1), -1)


def timing_predictions(score: np.ndarray, threshold: float) -> np.ndarray:
    """First step with score >= threshold, else the argmax: (N, T) -> (N,)."""
    first = first_index(score >= threshold)
    return np.where(first >= 0, first, score.argmax(-1))


def choose_threshold(score: np.ndarray, label: np.ndarray) -> float:
    """The timing threshold minimising the mean first-event error on (validation) windows (N, T)."""
    true_first = first_index(label > 0.5)
    has = true_first >= 0
    if not has.any():
        return float(np.quantile(score, 0.99))
    candidates = np.unique(np.quantile(score[has], np.linspace(0.5, 0.999, 40)))
    errors = [np.abs(timing_predictions(score[has], t) - true_first[has]).mean() for t in candidates]
    return float(candidates[int(np.argmin(errors))])


class Scorer:
    """Every score of one prediction for every K, as a function of window weights (N,)."""

    def __init__(self, pred: Prediction, truth: ProbeData, ks: tuple[int, ...], thresholds: np.ndarray,
                 false_alarm: float = 0.01, single_steps: bool = False):
        """``ks``: rollout lengths, each pooling steps 1..K-1; ``single_steps``: score each h_k alone
        instead (key ``k``: the span [k-1, k) of outer steps)."""
        n, k_max, p = truth.shape
        self.p, self.n, self.fa = p, n, false_alarm
        self.spans = ({k: (k - 1, k) for k in range(1, k_max + 1)} if single_steps
                      else {k: (0, k - 1) for k in ks if k > 1})
        self.targets = truth.target.shape[-1]
        self.events = truth.event.shape[-1]
        m = truth.mask
        # dense sufficient statistics per window and step, cumulated over steps: (N, K+1, C, 5)
        self.cum = {}
        for name, yhat, y in (("dense", pred.dense, truth.target), ("dense_raw", pred.dense_raw, truth.target_raw),
                              ("detail", pred.detail, truth.detail)):
            y, yhat = np.where(m > 0, y, 0.0), np.where(m > 0, yhat, 0.0)
            stats = np.stack([m.sum(2), y.sum(2), (y ** 2).sum(2), ((yhat - y) ** 2).sum(2),
                              np.abs(yhat - y).sum(2)], axis=-1)  # (N, K, C, 5)
            self.cum[name] = np.concatenate([np.zeros_like(stats[:, :1]), np.cumsum(stats, axis=1)], axis=1)
        # events, flattened over steps: element (n, t) with t = (k - 1) * P + j
        score = pred.event.reshape(n, k_max * p, -1)  # (N, T, Ce)
        label = truth.event.reshape(n, k_max * p, -1)
        t_index = np.broadcast_to(np.arange(k_max * p), (n, k_max * p))
        w_index = np.broadcast_to(np.arange(n)[:, None], (n, k_max * p))
        self.step_sorted, self.win_sorted, self.timing = {}, {}, {}
        for c in range(self.events):
            order = np.argsort(-score[..., c], axis=None, kind="stable")
            lab_o, win_o, t_o = (x.reshape(-1)[order] for x in (label[..., c], w_index, t_index))
            for k, (a, b) in self.spans.items():
                keep = (t_o >= a * p) & (t_o < b * p)  # this span's elements, still in score order
                self.step_sorted[(k, c)] = (lab_o[keep], win_o[keep])
                s, lab = score[:, a * p:b * p, c], label[:, a * p:b * p, c] > 0.5
                win_score, win_label = s.max(1), lab.any(1).astype(float)
                o = np.argsort(-win_score, kind="stable")
                self.win_sorted[(k, c)] = (win_label[o], o)
                true_first = first_index(lab)
                guess = timing_predictions(s, thresholds[c])
                has = true_first >= 0
                const = np.median(true_first[has]) if has.any() else 0.0
                self.timing[(k, c)] = (has, np.abs(guess - true_first), np.abs(const - true_first))

    def __call__(self, weights: np.ndarray) -> dict[tuple[int, str, int], float]:
        out: dict[tuple[int, str, int], float] = {}
        for k, (a, b) in self.spans.items():
            for name, cum in self.cum.items():
                s = np.tensordot(weights, cum[:, b] - cum[:, a], axes=1)  # (C, 5)
                cnt, sy, syy, sse, sae = s.T
                var = syy - sy ** 2 / np.maximum(cnt, 1)
                for c in range(self.targets):
                    out[(k, "dense_r2_raw" if name == "dense_raw" else f"{name}_r2", c)] = float(1 - sse[c] / var[c]) if var[c] > 0 else float("nan")
                    if name == "dense_raw":
                        out[(k, "dense_mae", c)] = float(sae[c] / max(cnt[c], 1))
            for c in range(self.events):
                lab, win = self.step_sorted[(k, c)]
                w = weights[win]
                out[(k, "step_auprc", c)] = weighted_ap(lab, w)
                out[(k, "step_recall", c)] = weighted_recall(lab, w, self.fa)
                out[(k, "step_base", c)] = float((w * lab).sum() / max(w.sum(), 1e-12))
                wl, o = self.win_sorted[(k, c)]
                ww = weights[o]
                out[(k, "win_auprc", c)] = weighted_ap(wl, ww)
                out[(k, "win_recall", c)] = weighted_recall(wl, ww, self.fa)
                out[(k, "win_base", c)] = float((ww * wl).sum() / max(ww.sum(), 1e-12))
                has, err, const = self.timing[(k, c)]
                wt = weights * has
                total = wt.sum()
                out[(k, "timing_n", c)] = float(total)
                out[(k, "timing_mae", c)] = float((wt * err).sum() / total) if total else float("nan")
                out[(k, "timing_within1", c)] = float((wt * (err <= 1)).sum() / total) if total else float("nan")
                out[(k, "timing_const_mae", c)] = float((wt * const).sum() / total) if total else float("nan")
        means: dict[tuple[int, str], list[float]] = {}
        for (k, metric, _c), value in out.items():  # channel -1: the mean over channels
            means.setdefault((k, metric), []).append(value)
        for (k, metric), values in means.items():
            out[(k, metric, -1)] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        return out


def bootstrap(scorers: list[Scorer], reps: int = 200, seed: int = 0, level: float = 0.95
              ) -> dict[tuple[int, str, int], tuple[float, float, float]]:
    """Mean over seeds, and a percentile interval resampling windows and seeds: key -> (mean, lo, hi).

    The same random draws are used for every call with the same ``seed`` and window count, so
    intervals of different models on the same windows are paired.
    """
    import warnings

    warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)  # NaN cells: no events there
    rng = np.random.default_rng(seed)
    n = scorers[0].n
    point = [s(np.ones(n)) for s in scorers]
    keys = list(point[0])
    mean = {key: float(np.nanmean([p[key] for p in point])) for key in keys}
    draws = {key: [] for key in keys}
    for _ in range(reps):
        weights = np.bincount(rng.integers(n, size=n), minlength=n).astype(float)
        chosen = rng.integers(len(scorers), size=len(scorers))
        results = [scorers[i](weights) for i in chosen]
        for key in keys:
            draws[key].append(np.nanmean([r[key] for r in results]))
    a = (1 - level) / 2
    return {key: (mean[key], float(np.nanquantile(draws[key], a)), float(np.nanquantile(draws[key], 1 - a)))
            for key in keys}
