"""Build the pretraining corpus of issue #16 with one command: Parquet files and a manifest.

Usage::

    python -m pipelines.pretrain.corpus --out outputs/corpus                 # default size, seed 0
    python -m pipelines.pretrain.corpus --out /tmp/corpus --seed 1 --synthetic 2000 --controlled 500
    python -m pipelines.pretrain.corpus --help                               # every size flag

Sources (data card: ``datasets/pretrain_corpus/README.md``):

- **real** (``real.py``): the training part, and only it, of every series a benchmark task file
  reads from the shared data (EPF NP/PJM/BE/FR, ETTh1, three NAB series, SMAP E-9, CityLearn
  home 1), cut by the library's own split; everything else is held out.
- **plant** and **tumour** (``simulated.py``): the simulators over many fleets / cohorts,
  confounding levels and step sizes, on seeds no benchmark uses.
- **kernelsynth** (``kernelsynth.py``): Gaussian-process series with random composite kernels.
- **controlled** (``controlled_systems.py``): first-order systems with a reacting operator and a
  recorded, exact control effect.

Each source is one long-format file ``<out>/<source>.parquet``: ``series_id``, ``step`` (row of
the series, from 0), ``timestamp`` (null where the series has no clock), then value columns
(float64; ``kernel`` is text) whose roles ``manifest.json`` lists. The manifest, written last,
also holds the seed, every size, every simulator seed, the exact rows taken from each real file
and the files held out. Files are written atomically (all Parquet files or none, then the
manifest), and the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.pretrain import controlled_systems, kernelsynth, real, simulated
from tsloop.cli.configflags import add_config_flags
from tsloop.output import write_json, write_tables
from tsloop.version import __version__

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
KEYS = ("series_id", "step", "timestamp")


@dataclass(frozen=True)
class CorpusConfig:
    """What goes into the corpus; every size is a flag of the command."""

    seed: int = 0  # one seed for every simulator and generator
    real: bool = True  # the training parts of the real benchmark series
    fleets: int = 12  # plant fleets, cycling through confounding (6 levels) x step (5, 15 min)
    clusters: int = 4  # clusters per plant fleet
    plant_days: int = 7  # simulated days per plant fleet
    cohorts: int = 5  # tumour cohorts, cycling through gamma 0..4
    patients: int = 1000  # patients per tumour cohort (up to 60 days each)
    synthetic: int = 128  # KernelSynth series
    synthetic_length: int = 1024  # steps per KernelSynth series (Chronos: 1024)
    controlled: int = 64  # controlled systems, one unit each
    controlled_steps: int = 2048  # steps per controlled system

    def __post_init__(self) -> None:
        sizes = {k: v for k, v in asdict(self).items() if k != "seed" and not isinstance(v, bool)}
        negative = [k for k, v in sizes.items() if v < 0]
        if negative:
            raise ValueError(f"sizes must be >= 0: {', '.join(negative)}")
        for name, minimum in (("clusters", 1), ("plant_days", 1), ("patients", 1), ("synthetic_length", 16),
                              ("controlled_steps", controlled_systems.EFFECT_HORIZON + controlled_systems.MAX_LAG + 2)):
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {getattr(self, name)}")


@dataclass
class Source:
    """One corpus file before it is written: its frame, column roles and manifest details."""

    name: str
    kind: str  # real, simulated or synthetic
    frame: pd.DataFrame
    roles: dict[str, str]
    details: dict


def derived_seeds(seed: int) -> dict[str, int]:
    """One independent seed per generator, from the corpus seed."""
    state = np.random.SeedSequence(seed).generate_state(4)
    return dict(zip(("plant", "tumour", "kernelsynth", "controlled"), (int(s) for s in state)))


def make_sources(config: CorpusConfig) -> tuple[list[Source], dict]:
    """Every source of the corpus, and the manifest's real-data records (series and held-out files)."""
    seeds = derived_seeds(config.seed)
    sources: list[Source] = []
    real_records: dict = {"real_series": [], "held_out_files": []}
    if config.real:
        series = real.collect(real.benchmark_task_files(), real.benchmark_task_files(folders=real.SPLIT_ONLY_DIRS))
        for name, frame in real.real_frames(series).items():
            members = [s for s in series if s.source == name]
            roles = {c: r for s in members for c, r in s.roles.items()}
            sources.append(Source(name, "real", frame, roles, {"freq": sorted({s.freq for s in members})}))
        real_records = {"real_series": [real.manifest_entry(s) for s in series],
                        "held_out_files": real.held_out_files(series)}
    if config.fleets:
        plant_seeds = simulated.sim_seeds(np.random.default_rng(seeds["plant"]), config.fleets)
        frame, fleets = simulated.plant_fleets(config.fleets, config.clusters, config.plant_days, plant_seeds)
        sources.append(Source("plant", "simulated", frame, simulated.PLANT_ROLES,
                              {"simulator": "tsloop.sim.plant (logged operator policy)", "fleets": fleets}))
    if config.cohorts:
        tumour_seeds = simulated.sim_seeds(np.random.default_rng(seeds["tumour"]), config.cohorts)
        frame, cohorts = simulated.tumour_cohorts(config.cohorts, config.patients, tumour_seeds)
        sources.append(Source("tumour", "simulated", frame, simulated.TUMOUR_ROLES,
                              {"simulator": "tsloop.sim.tumour (factual 'train' cohorts)", "cohorts": cohorts}))
    if config.synthetic:
        frame = kernelsynth.kernelsynth_frame(config.synthetic, config.synthetic_length, seeds["kernelsynth"])
        sources.append(Source("kernelsynth", "synthetic", frame, {"value": "target", "kernel": "truth"},
                              {"seed": seeds["kernelsynth"], "length": config.synthetic_length}))
    if config.controlled:
        frame = controlled_systems.controlled_frame(config.controlled, config.controlled_steps, seeds["controlled"])
        sources.append(Source("controlled", "synthetic", frame, controlled_systems.ROLES,
                              {"seed": seeds["controlled"], "steps": config.controlled_steps,
                               "effect_horizon": controlled_systems.EFFECT_HORIZON,
                               "effect": "mean y over effect_horizon steps, u = 1 minus u = 0 from any origin"}))
    return sources, real_records


def build(out: str | Path, config: CorpusConfig = CorpusConfig()) -> dict:
    """Write the corpus to ``out`` and return its manifest."""
    out = Path(out)
    sources, real_records = make_sources(config)
    for source in sources:
        source.frame = source.frame[[*KEYS, *source.roles]]
    paths = write_tables([(s.frame, out / f"{s.name}.parquet") for s in sources])
    entries = []
    for source, path in zip(sources, paths):
        frame = source.frame
        entries.append({
            "name": source.name,
            "kind": source.kind,
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size,
            "series": int(frame["series_id"].nunique()),
            "rows": len(frame),
            "columns": source.roles,
            **source.details,
        })
    manifest = {
        "corpus": "tsloop pretraining corpus (issue #16); data card: datasets/pretrain_corpus/README.md",
        "format_version": FORMAT_VERSION,
        "tsloop_version": __version__,
        "seed": config.seed,
        "config": asdict(config),
        "derived_seeds": derived_seeds(config.seed),
        "command": "python -m pipelines.pretrain.corpus --out DIR " + " ".join(_flags(config)),
        "layout": ("long: series_id, step (row of the series from 0), timestamp (null where the series has no "
                   "clock), then the value columns of 'columns' with their roles"),
        "held_out_rule": real.HELD_OUT_RULE if config.real else "no real data",
        "sources": entries,
        **real_records,
        "totals": {key: sum(e[key] for e in entries) for key in ("series", "rows", "bytes")},
    }
    old = _read_manifest(out)
    write_json(manifest, out / MANIFEST)
    for stale in {e["file"] for e in old.get("sources", [])} - {e["file"] for e in entries}:
        (out / stale).unlink(missing_ok=True)  # a file of an earlier build that this one does not make
    return manifest


def _flags(config: CorpusConfig) -> list[str]:
    flags = []
    for key, value in asdict(config).items():
        flag = key.replace("_", "-")
        flags.append(f"--{'' if value else 'no-'}{flag}" if isinstance(value, bool) else f"--{flag} {value}")
    return flags


def _read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the Parquet files and manifest.json")
    add_config_flags(parser, CorpusConfig)
    args = parser.parse_args(argv)
    try:
        config = CorpusConfig(**{key: getattr(args, key) for key in asdict(CorpusConfig())})
    except ValueError as err:
        parser.error(str(err))
    start = time.perf_counter()
    manifest = build(args.out, config)
    seconds = time.perf_counter() - start
    print(f"{'source':<16} {'kind':<10} {'series':>8} {'rows':>11} {'MB':>8}")
    for e in manifest["sources"]:
        print(f"{e['name']:<16} {e['kind']:<10} {e['series']:>8,} {e['rows']:>11,} {e['bytes'] / 1e6:>8.2f}")
    t = manifest["totals"]
    print(f"{'total':<27} {t['series']:>8,} {t['rows']:>11,} {t['bytes'] / 1e6:>8.2f}")
    print(f"built in {seconds:.1f} s: {Path(args.out) / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
