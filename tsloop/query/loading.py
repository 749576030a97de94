"""A trained model file as the three things every query needs: the network, its spec, its scaler."""

from __future__ import annotations

from dataclasses import dataclass, field

from tsloop.bundle import Bundle
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.errors import CheckpointError
from tsloop.model.config import ModelConfig
from tsloop.model.world_model import WorldModel

RANGE_MARGIN = 1.0  # samples are clipped to the training range widened by this many range widths


@dataclass
class Loaded:
    model: WorldModel
    spec: TaskSpec
    scaler: StandardScaler
    meta: dict = field(default_factory=dict)


def load_bundle(bundle: Bundle) -> Loaded:
    """The network (in eval mode) with the spec and scaler it was trained with."""
    model = WorldModel(ModelConfig.from_dict(bundle.model_config))
    try:
        model.load_state_dict(bundle.state_dict)
    except RuntimeError as err:
        raise CheckpointError(
            f"the model weights do not match their configuration ({str(err).splitlines()[0]}); "
            "the file was probably assembled from another run"
        ) from None
    if model.policy is not None:  # files written before the calibration (or without validation data) have none
        model.policy.set_calibration(bundle.meta.get("policy_calibration"))
    return Loaded(model.eval(), TaskSpec.from_dict(bundle.spec), StandardScaler.from_dict(bundle.scaler), bundle.meta)


def range_margin(meta: dict) -> float | None:
    """The clipping margin stored with a model; files written before it was stored get the old default."""
    return meta.get("range_margin", RANGE_MARGIN)
