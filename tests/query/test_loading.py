"""A model file as (model, spec, scaler): weights must fit their config; old files keep the old clipping."""

from __future__ import annotations

import pytest
import torch

from tsloop.bundle import Bundle
from tsloop.errors import CheckpointError
from tsloop.query.loading import RANGE_MARGIN, load_bundle, range_margin


def test_when_a_file_predates_the_stored_margin_then_the_default_applies():
    assert range_margin({}) == RANGE_MARGIN and range_margin({"range_margin": None}) is None


def test_when_weights_do_not_fit_their_config_then_loading_names_the_cause(trained):
    bundle = Bundle.load(trained.model)
    name = next(iter(bundle.state_dict))
    bundle.state_dict[name] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="do not match their configuration"):
        load_bundle(bundle)


def test_when_a_trained_file_is_loaded_then_the_model_is_in_eval_mode_with_its_spec(trained):
    loaded = load_bundle(Bundle.load(trained.model))
    assert not loaded.model.training and loaded.spec.name == "tiny-plant" and loaded.meta["range_margin"] == 1.0
