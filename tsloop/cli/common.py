"""Pieces shared by the query commands: reading request files and the model option."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from tsloop.errors import DataError


def read_frame(path: str | Path, what: str) -> pl.DataFrame:
    """Read a CSV/CSV.gz/Parquet request file as polars; values stay text until validation."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file {path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False)
    except Exception as err:
        raise DataError(
            f"{what} file {path} could not be read ({type(err).__name__}: {str(err)[:200]}); "
            "give a CSV (optionally .gz) with a header row, or a Parquet file"
        ) from None


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True,
        help="a model file (model.pt), a training output folder, an MLflow run id, or 'pretrained' (the "
             "pretrained model shipped with tsloop; ./pretrained for a folder of that name)",
    )


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    from tsloop.query.results import NUM_SAMPLES

    parser.add_argument("--samples", type=int, default=NUM_SAMPLES, help=f"joint sample paths (default {NUM_SAMPLES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample paths (default 0)")
