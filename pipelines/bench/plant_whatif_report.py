"""Suite 4's summary over seeds: mean [min, max] per model and metric, the markdown tables, paired differences.

    python -m pipelines.bench.plant_whatif --aggregate-only     # calls aggregate() on the saved per-run JSON
"""

from __future__ import annotations

import json

import numpy as np

from pipelines.bench.plant_whatif import OUT, RESULTS

COLUMNS = (  # (key path in scores, header, digits)
    ("forecast_crps_over_oracle", "forecast CRPS ÷ oracle", 3),
    ("whatif_cf_crps_ratio", "cf CRPS ÷ oracle", 3),
    ("whatif_ranking_accuracy", "ranking acc. (vs oracle effect)", 3),
    ("whatif_ranking_accuracy_material", "ranking acc., material pairs", 3),
    ("rank_acc_realized", "ranking acc. (vs realized cf)", 3),
    ("whatif_p_better_brier", "P(better) Brier vs oracle P", 3),
    ("p_better_vs_realized/brier", "P(better) Brier vs realized", 3),
    ("p_better_vs_realized/reliability", "P(better) reliability", 3),
    ("event_factual/brier", "event Brier (factual)", 4),
    ("event_factual/reliability", "event reliability (factual)", 5),
    ("event_factual/brier_skill", "event Brier skill (factual)", 3),
    ("event_whatif/brier", "event Brier (both plans)", 4),
    ("event_whatif/reliability", "event reliability (both plans)", 5),
    ("event_whatif/brier_skill", "event Brier skill (both plans)", 3),
    ("whatif_latency_ms", "what-if latency ms", 0),
    ("trade_off/cf_crps_ratio", "cf CRPS ÷ oracle", 3),
    ("trade_off/ranking_accuracy", "ranking acc. (vs oracle effect)", 3),
    ("trade_off/rank_acc_realized", "ranking acc. (vs realized cf)", 3),
    ("trade_off/p_better_brier_vs_oracle", "P(better) Brier vs oracle P", 3),
    ("trade_off/p_better_vs_realized/brier", "P(better) Brier vs realized", 3),
    ("trade_off/p_better_vs_realized/reliability", "P(better) reliability", 3),
    ("trade_off/p_better_vs_realized/base_rate", "share of pairs throttle wins", 3),
)
TABLES = (COLUMNS[:8], COLUMNS[8:15], COLUMNS[15:])
BY_DEFINITION = {"forecast_crps_over_oracle", "whatif_cf_crps_ratio", "whatif_ranking_accuracy",
                 "whatif_ranking_accuracy_material", "whatif_p_better_brier", "trade_off/cf_crps_ratio"}
PAIRED = ("forecast_crps_over_oracle", "whatif_cf_crps_ratio", "whatif_ranking_accuracy", "whatif_p_better_brier",
          "event_whatif/brier_skill", "trade_off/cf_crps_ratio", "trade_off/p_better_vs_realized/brier")


def _get(scores: dict, path: str):
    for key in path.split("/"):
        scores = scores.get(key, {}) if isinstance(scores, dict) else {}
    return scores if isinstance(scores, (int, float)) else None


def aggregate(seeds: list[int], models: list[str]) -> str:
    """Mean [min, max] over seeds per model and metric -> RESULTS json; returns the markdown tables."""
    runs = {m: [json.loads((OUT / f"{m}_s{s}.json").read_text()) for s in seeds if (OUT / f"{m}_s{s}.json").is_file()]
            for m in models}
    summary = {}
    for m, recs in runs.items():
        if not recs:
            continue
        row = {"seeds": [r["seed"] for r in recs]}
        for key, _, _ in COLUMNS + (("train_s", "", 0), ("steps", "", 0), ("epochs", "", 0)):
            values = [v for r in recs if (v := _get(r["scores"], key) if key not in ("train_s", "steps", "epochs")
                                          else _get(r.get("budget") or {}, key)) is not None]
            if values:
                row[key] = {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values)),
                            "values": values}
        summary[m] = row
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1, default=float))
    lines = []
    for part in TABLES:
        lines += ["| model | seeds | " + " | ".join(h for _, h, _ in part) + " |", "|---" * (len(part) + 2) + "|"]
        for m, row in summary.items():
            cells = []
            for key, _, d in part:
                if key in row:
                    v = row[key]
                    cells.append(f"{v['mean']:.{d}f} [{v['min']:.{d}f}, {v['max']:.{d}f}]" if len(v["values"]) > 1
                                 else f"{v['mean']:.{d}f}")
                else:
                    cells.append("1 (def.)" if m == "oracle" and key in BY_DEFINITION else "–")
            lines.append(f"| {m} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["| model | train s | optimizer steps | epochs |", "|---|---|---|---|"]
    for m, row in summary.items():
        cells = [f"{row[k]['mean']:.{d}f} [{row[k]['min']:.{d}f}, {row[k]['max']:.{d}f}]" if k in row else "–"
                 for k, d in (("train_s", 0), ("steps", 0), ("epochs", 1))]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *paired_table(runs)])


def paired_table(runs: dict) -> list[str]:
    """Per-seed differences model − tsloop on the same scenario: mean [min, max] over seeds."""
    base = {r["seed"]: r["scores"] for r in runs.get("tsloop", [])}
    names = {k: h for k, h, _ in COLUMNS}
    head = [f"{names[k]}{' (trade-off)' if k.startswith('trade_off') else ''}" for k in PAIRED]
    lines = ["| model − tsloop, same seed | " + " | ".join(head) + " |", "|---" * (len(PAIRED) + 1) + "|"]
    for m, recs in runs.items():
        if m == "tsloop" or m in ("oracle", "always_scale_out"):
            continue
        cells = []
        for key in PAIRED:
            d = [_get(r["scores"], key) - _get(base[r["seed"]], key) for r in recs
                 if r["seed"] in base and _get(r["scores"], key) is not None and _get(base[r["seed"]], key) is not None]
            cells.append(f"{np.mean(d):+.3f} [{np.min(d):+.3f}, {np.max(d):+.3f}]" if d else "–")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines
