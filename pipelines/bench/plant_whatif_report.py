"""Suite 4's report: per pair, one table per must-show metric with rows = model and columns =
confounding level, cells mean ± sd over seeds, ✓ where the mean meets issue #13's bar.

    python -m pipelines.bench.plant_whatif --aggregate-only             # print the tables
    python -m pipelines.bench.plant_whatif --aggregate-only --publish   # and fill RESULTS_plant_whatif.md
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tsloop.output import atomic_path

RESULTS_MD = Path(__file__).parent / "RESULTS_plant_whatif.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
BARS = {  # metric -> (rule, bound): issue #13's bar on the mean over seeds
    "ranking_material": (">=", 0.90),
    "cf_crps_ratio": ("<=", 1.15),
    "p_better_brier": ("<=", 0.10),
    "coverage90": ("in", (0.85, 0.95)),
}
MUST_SHOW = (  # (key in a pair's scores, what it is, digits)
    ("ranking_material", "ranking accuracy vs the oracle's effect, material pairs (bar ≥ 0.90)", 3),
    ("cf_crps_ratio", "counterfactual CRPS ÷ oracle (bar ≤ 1.15)", 3),
    ("p_better_brier", "P(better) Brier vs the oracle's P (bar ≤ 0.10)", 3),
    ("coverage90", "90 % effect-interval coverage of the oracle's effect (bar 0.85–0.95)", 3),
)
FLAGGED = (  # shown when some model's what-if reports Effect.flag (supported / weak / unsupported)
    ("flags/share_unsupported", "share of pairs flagged unsupported", 3),
    ("flags/share_weak", "share of pairs flagged weak", 3),
    ("supported/ranking_material", "ranking accuracy, material pairs, supported pairs only (bar ≥ 0.90)", 3),
    ("supported/cf_crps_ratio", "counterfactual CRPS ÷ oracle, supported pairs only (bar ≤ 1.15)", 3),
    ("supported/p_better_brier", "P(better) Brier, supported pairs only (bar ≤ 0.10)", 3),
    ("supported/coverage90", "90 % effect-interval coverage, supported pairs only (bar 0.85–0.95)", 3),
)
CONTEXT = (  # per scenario, the same for every model
    ("material_pairs", "material pairs"),
    ("pairs", "pairs"),
)
OTHER = (  # (key in scores, header, digits): not per pair
    ("forecast_crps_over_oracle", "forecast CRPS ÷ oracle (logged controls)", 3),
    ("event_whatif/brier_skill", "event Brier skill, demo pair, both plans", 3),
    ("whatif_latency_ms", "what-if latency, ms", 0),
)


def run_key(model: str, confounding: float, seed: int) -> str:
    """The per-run file stem: model, confounding level and seed."""
    return f"{model}_c{confounding:g}_s{seed}"


def get(scores: dict, path: str):
    for key in path.split("/"):
        scores = scores.get(key) if isinstance(scores, dict) else None
    return float(scores) if isinstance(scores, (int, float)) and not isinstance(scores, bool) else None


def meets(metric: str, value: float) -> bool | None:
    """Whether ``value`` meets the bar of ``metric`` (its last path part); None when it has none."""
    rule = BARS.get(metric.split("/")[-1])
    if rule is None or value is None or not np.isfinite(value):
        return None
    kind, bound = rule
    return value >= bound if kind == ">=" else value <= bound if kind == "<=" else bound[0] <= value <= bound[1]


def stats(values: list[float], metric: str = "") -> dict | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    if not v:
        return None
    mean = float(np.mean(v))
    return {"mean": mean, "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "n": len(v), "values": v,
            "meets": meets(metric, mean)}


def load_records(out: Path, models: list[str], confounding: list[float], seeds: list[int]) -> list[dict]:
    paths = [out / f"{run_key(m, c, s)}.json" for m in models for c in confounding for s in seeds]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def summarize(records: list[dict]) -> dict:
    """{"pairs": {pair: {metric: {model: {conf: stats}}}}, "other": ..., "budget": ..., "context": ...}."""
    models = list(dict.fromkeys(r["model"] for r in records))
    levels = sorted({float(r["confounding"]) for r in records})
    pairs = list(dict.fromkeys(p for r in records for p in r["scores"].get("pairs", {})))

    def table(value_of, metric: str) -> dict:
        out = {}
        for m in models:
            row = {f"{c:g}": stats([value_of(r) for r in records if r["model"] == m and float(r["confounding"]) == c],
                                   metric) for c in levels}
            if any(row.values()):
                out[m] = row
        return out

    summary = {"models": models, "confounding": [f"{c:g}" for c in levels],
               "seeds": sorted({r["seed"] for r in records}), "pairs": {}, "context": {}, "other": {}, "budget": {}}
    for p in pairs:
        keys = [k for k, _, _ in MUST_SHOW + FLAGGED] + ["ranking", "rank_realized", "effect_mae"]
        summary["pairs"][p] = {k: table(lambda r, k=k: get(r["scores"].get("pairs", {}).get(p, {}), k), k) for k in keys}
        summary["context"][p] = {k: {f"{c:g}": stats(list({  # one value per seed: the scenario's, not the model's
            r["seed"]: get(r["scores"]["pairs"][p], k) for r in records
            if float(r["confounding"]) == c and p in r["scores"].get("pairs", {})}.values())) for c in levels}
            for k, _ in CONTEXT}
    summary["other"] = {k: table(lambda r, k=k: get(r["scores"], k), k) for k, _, _ in OTHER}
    summary["budget"] = {k: table(lambda r, k=k: get(r.get("budget") or {}, k), k) for k in ("steps", "train_s")}
    return summary


def cell(s: dict | None, digits: int) -> str:
    if s is None:
        return "–"
    text = f"{s['mean']:.{digits}f}" + (f" ± {s['sd']:.{digits}f}" if s["n"] > 1 else "")
    return text + (" ✓" if s["meets"] else "")


def metric_table(rows: dict, levels: list[str], digits: int) -> list[str]:
    lines = ["| model | " + " | ".join(f"c = {c}" for c in levels) + " |", "|---" * (len(levels) + 1) + "|"]
    return lines + [f"| {m} | " + " | ".join(cell(row.get(c), digits) for c in levels) + " |" for m, row in rows.items()]


def markdown(summary: dict, titles: dict[str, str] | None = None) -> str:
    """The results section: per pair the must-show tables (and the flagged ones when reported),
    then the other scores and the budget actually used."""
    levels, titles = summary["confounding"], titles or {}
    n = len(summary["seeds"])
    lines = [f"Seeds {', '.join(map(str, summary['seeds']))}; cells are mean ± sd over the {n} seed(s) (sd only when "
             "n > 1); ✓ = the mean meets issue #13's bar. c = the operator's confounding.", ""]
    for p, tables in summary["pairs"].items():
        lines += [f"### Pair `{p}`: {titles.get(p, '')}".rstrip(": "), ""]
        ctx = summary["context"].get(p, {})
        if ctx.get("pairs") and any(ctx["pairs"].values()):
            counts = [f"c = {c}: {cell(ctx['material_pairs'].get(c), 0)} of {cell(ctx['pairs'].get(c), 0)}"
                      for c in levels if ctx["pairs"].get(c)]
            lines += ["Material pairs per seed (mean): " + "; ".join(counts) + ".", ""]
        shown = MUST_SHOW + (FLAGGED if tables.get("flags/share_unsupported") else ())
        for key, header, digits in shown:
            if tables.get(key):
                lines += [f"**{header}**", "", *metric_table(tables[key], levels, digits), ""]
        if not tables.get("flags/share_unsupported"):
            lines += ["No model's what-if reported `Effect.flag`: no supported-only tables.", ""]
    lines += ["### Other scores", ""]
    for key, header, digits in OTHER:
        if summary["other"].get(key):
            lines += [f"**{header}**", "", *metric_table(summary["other"][key], levels, digits), ""]
    lines += ["### Budget actually used", ""]
    for key, header, digits in (("steps", "optimizer steps", 0), ("train_s", "training wall time, s", 0)):
        if summary["budget"].get(key):
            lines += [f"**{header}**", "", *metric_table(summary["budget"][key], levels, digits), ""]
    return "\n".join(lines).rstrip() + "\n"


def publish(text: str, path: Path = RESULTS_MD) -> None:
    """Put ``text`` between the results markers of the results page."""
    page = path.read_text()
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with atomic_path(path) as tmp:
        tmp.write_text(f"{head}{BEGIN}\n## Results\n\n{text}{END}{tail}")
