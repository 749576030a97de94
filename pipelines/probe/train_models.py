"""Train the models the probes compare: DD, DD terminal-only, step-wise, no-loop; several seeds.

Usage::

    python pipelines/probe/train_models.py --task pipelines/probe/tasks/plant_probe.yaml \
        --seeds 0,1,2 --max-time 100 --out outputs/probe/plant

Writes ``OUT/<variant>-s<seed>/model.pt`` (skips those that exist) and logs each training run to
the MLflow experiment ``tsloop-probe``. Same preset, data, batch size and wall-clock budget for
every variant; only the decoding/looping options differ (VARIANTS).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsloop.data.task import load_task
from tsloop.model.config import ModelConfig
from tsloop.train.config import TrainConfig
from tsloop.train.fit import fit

# variant -> ModelConfig overrides. k_every=1: the deferred K curriculum reaches K_max = 32 after
# 31 optimizer steps, before the first validation (32 batches), so short runs still train at K_max.
VARIANTS: dict[str, dict] = {
    "dd": dict(deferred=True, k_sample=True, k_every=1),  # default DD: K ~ U{1..cap} per batch
    "dd_terminal": dict(deferred=True, k_sample=False, k_every=1),  # literal terminal-only decoding
    "stepwise": dict(deferred=False),  # decode every outer step
    "noloop": dict(deferred=True, k_sample=True, k_every=1, looped=False),  # T = 1
    "untrained": dict(deferred=True, k_sample=True, k_every=1),  # control: DD architecture at its random init
}


def save_untrained(task, cfg: ModelConfig, seed: int, out: Path) -> None:
    """The model at its seeded random initialisation, as a bundle (the probes' chance-level control)."""
    import torch

    from tsloop.bundle import Bundle
    from tsloop.model.world_model import WorldModel

    torch.manual_seed(seed)
    model = WorldModel(cfg)
    Bundle(model_config=cfg.to_dict(), spec=task.spec.to_dict(), scaler=task.scaler.to_dict(),
           state_dict=model.state_dict(), meta={"untrained": True, "seed": seed}).save(out / "model.pt")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--preset", default="tiny")
    p.add_argument("--set", action="append", default=["d_model=32"], metavar="KEY=VALUE")
    p.add_argument("--max-time", type=float, default=100.0, help="seconds of training per model")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import torch
    import yaml

    torch.set_num_threads(args.threads)  # tiny models on a shared CPU: 2 threads ran ~10x slower than 1

    task = load_task(args.task)
    s = task.spec
    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    for seed in (int(x) for x in args.seeds.split(",")):
        for variant in args.variants.split(","):
            out = Path(args.out) / f"{variant}-s{seed}"
            if (out / "model.pt").is_file():
                continue
            cfg = ModelConfig.preset(args.preset, dims=s.dims, context_length=s.context_length,
                                     horizon=s.horizon, **{**extra, **VARIANTS[variant]})
            if variant == "untrained":  # what probes read from latents nobody trained
                save_untrained(task, cfg, seed, out)
                continue
            train = TrainConfig(max_epochs=50, max_time_s=args.max_time, batch_size=64, seed=seed,
                                train_stride=4, val_stride=32, limit_train_batches=32, limit_val_batches=4,
                                patience=3, progress_bar=False)
            result = fit(task, cfg, train, out_dir=out, experiment="tsloop-probe",
                         run_name=f"train-{s.name}-{variant}-s{seed}",
                         tags={"probe.role": "model", "probe.variant": variant, "probe.seed": str(seed)})
            print(f"{variant} seed {seed}: {result.wall_time_s:.0f}s {result.metrics.get('val/loss')}", flush=True)


if __name__ == "__main__":
    main()
