"""Named loaders of the shared datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsloop.data.sources import load_citylearn2022, load_nab, load_smap, load_source
from tsloop.errors import SpecError


def test_when_nab_is_loaded_then_it_is_on_a_regular_grid_with_label_events(root):
    frame = load_nab("realKnownCause/machine_temperature_system_failure")
    steps = frame["timestamp"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(minutes=5)]
    assert len(frame) == 22695 - 12  # the repeated hour is averaged into the grid
    labelled = frame.loc[frame["event"] == 1, "timestamp"].astype(str).tolist()
    assert labelled == ["2013-12-11 06:00:00", "2013-12-16 17:25:00", "2014-01-28 13:55:00", "2014-02-08 14:30:00"]


def test_when_a_nab_series_has_gaps_then_they_become_missing_values(root):
    frame = load_nab("realAdExchange/exchange-3_cpc_results.csv")
    assert frame["value"].isna().sum() > 0 and frame["timestamp"].diff().dropna().nunique() == 1
    assert frame["event"].sum() == 3


def test_when_a_nab_name_lacks_its_category_then_the_error_suggests_it(root):
    with pytest.raises(SpecError, match="Did you mean 'realKnownCause/nyc_taxi'"):
        load_source({"loader": "nab", "series": "nyc_taxi"})


def test_when_smap_is_loaded_then_it_has_an_integer_step_and_the_label(root):
    frame = load_smap()
    assert frame.columns[:3] == ["step", "0", "1"] and frame.height == 8302
    assert frame["step"].to_list()[-1] == 8301


def test_when_citylearn_is_loaded_then_empty_and_oracle_columns_are_dropped(root):
    frame = load_citylearn2022(building=2)
    assert "Indoor Temperature [C]" not in frame and "Cooling Load [kWh]" not in frame
    assert not any("Prediction" in c for c in frame.columns)
    assert str(frame["timestamp"].iloc[1]) == "2022-08-01 00:00:00" and len(frame) == 8760
    with_oracles = load_citylearn2022(building=2, predictions=True)
    assert sum("Prediction" in c for c in with_oracles.columns) == 15


def test_when_a_loader_argument_is_wrong_then_spec_error_suggests_the_right_one(root):
    with pytest.raises(SpecError, match="Did you mean 'building'"):
        load_source({"loader": "citylearn2022", "buildings": 3})
    with pytest.raises(SpecError, match="Did you mean 'epf'"):
        load_source({"loader": "epff"})
    assert np.isfinite(load_source({"loader": "epf", "market": "BE"})["OT"].cast(float).to_numpy()).all()
