"""Entry point of the ``tsloop`` command.

A typical call of each command, for illustration: most name files or servers of your own
(``tsloop COMMAND --help`` shows more)::

    tsloop data check --task tasks/epf_np.yaml
    tsloop simulate plant --series 8 --steps 20000 --seed 0 --out plant.parquet
    tsloop train --task tasks/plant_whatif.yaml --preset small --max-epochs 20 --out outputs/plant
    tsloop forecast --model outputs/plant --history recent.csv --future known.csv --out fc.parquet
    tsloop whatif --model outputs/plant --history recent.csv --plan hold.csv --plan scale_out.csv --out whatif.json
    tsloop compare --experiment tsloop-demo --metric val/crps --metric demo/crps_over_oracle_mean
    tsloop sync --run RUN_ID --to http://mlflow.internal:5000
    tsloop demo --fast
    tsloop probe --model outputs/plant --task pipelines/probe/tasks/plant_probe.yaml --k 4,8,16,32
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from tsloop import __version__
from tsloop.errors import TsloopError
from tsloop.quiet import silence_known_noise

# Sub-command modules, in the order `--help` lists them. A module that is not
# there yet is skipped, so the CLI grows as features land.
COMMAND_MODULES = (
    "tsloop.cli.data",
    "tsloop.cli.simulate",
    "tsloop.cli.train",
    "tsloop.cli.forecast",
    "tsloop.cli.whatif",
    "tsloop.cli.compare",
    "tsloop.cli.sync",
    "tsloop.cli.demo",
    "tsloop.cli.probe",
)

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsloop",
        description="Looped latent world models for telemetry: forecasts and what-if queries.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--version", action="version", version=f"tsloop {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USER_ERROR if args.command is None and argv else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            silence_known_noise()
            return int(args.func(args) or 0)
    except TsloopError as err:
        print(f"tsloop {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
