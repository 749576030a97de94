"""The fine-tuning suite: test scores at every check that do not change training, selection by
validation only, and steps-to-match read from the curves."""

from __future__ import annotations

import math

import torch

from pipelines.bench import finetune
from tsloop.bundle import Bundle
from tsloop.data.task import load_task
from tsloop.model import ModelConfig
from tsloop.train.config import TrainConfig
from tsloop.train.fit import fit


def _row(task, mode, seed, points, steps=2000):
    return {"task": task, "mode": mode, "seed": seed, "steps": steps, "s_per_step": 0.1,
            "curve": points, "selected_mse": finetune.selected(points),
            "selected_crps": finetune.selected(points, "crps")}


def _points(pairs):
    """(val_select, test mse) per check every 200 steps, after a step-0 point."""
    out = [{"step": 0, "val_select": None, "mse": 9.0, "crps": 9.0}]
    for i, (select, mse) in enumerate(pairs, start=1):
        out.append({"step": 200 * i, "val_select": select, "mse": mse, "crps": mse / 2})
    return out


def test_the_selected_score_is_the_best_validation_checkpoint_so_far_never_the_best_test():
    points = _points([(0.5, 0.40), (0.6, 0.10), (0.4, 0.30), (0.45, 0.05)])
    assert finetune.selected(points) == [(200, 0.40), (400, 0.40), (600, 0.30), (800, 0.30)]


def test_steps_to_match_is_the_first_check_at_or_below_the_same_seeds_final_scratch_score():
    scratch = _row("t", "scratch", 0, _points([(0.5, 0.40), (0.4, 0.30), (0.3, 0.20)]), steps=600)
    tuned = _row("t", "all", 0, _points([(0.5, 0.25), (0.4, 0.20), (0.3, 0.19)]), steps=600)
    slow = _row("t", "all", 1, _points([(0.5, 0.50), (0.4, 0.45), (0.3, 0.40)]), steps=600)
    scratch1 = _row("t", "scratch", 1, _points([(0.5, 0.40), (0.4, 0.30), (0.3, 0.20)]), steps=600)
    summary = finetune.summarise([scratch, tuned, slow, scratch1])["t"]
    assert summary["all"]["match_steps"] == [400, None]  # seed 0 at step 400; seed 1 never
    assert summary["all"]["within_quarter"] == [False, False]  # 400 > 600 // 4
    assert summary["scratch"]["mse"] == [0.20, 0.20]
    assert summary["all"]["step0_mse"] == [9.0, 9.0]
    text = finetune.report({"rows": [scratch, tuned, slow, scratch1], "commands": ["x"]})
    assert summary["all"]["final_better"] == [True, False]
    assert summary["all"]["checks_won"] == [(3, 3), (0, 3)]  # seed 0 below at every check, seed 1 at none
    assert "| t | 2 | 600, 600 | 0.200 ± 0.000 | 0.295 ± 0.105 |" in text and "| 1 of 2 | 3 of 6 | 400, – | 0 of 2 |" in text


def test_the_test_curve_scores_every_check_without_changing_what_is_trained(tiny_task, tmp_path):
    task = load_task(str(tiny_task.path))
    cfg = ModelConfig.for_task("tiny", task.spec)
    train = TrainConfig(max_steps=4, val_check_steps=2, batch_size=16, limit_val_batches=2, progress_bar=False, seed=0)
    plain = fit(task, cfg, train, out_dir=tmp_path / "plain")
    curve = finetune.TestCurve(task)
    scored = fit(task, cfg, train, out_dir=tmp_path / "scored", callbacks=[curve])
    a = Bundle.load(plain.bundle_path).state_dict
    b = Bundle.load(scored.bundle_path).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)  # scoring the test part drew nothing from training's RNG
    assert [p["step"] for p in curve.points] == [0, 2, 4]
    assert curve.points[0]["val_select"] is None and all(p["val_select"] is not None for p in curve.points[1:])
    assert all(math.isfinite(p["mse"]) and math.isfinite(p["crps"]) for p in curve.points)
    assert len({p["mse"] for p in curve.points}) == 3  # the model moved between checks
