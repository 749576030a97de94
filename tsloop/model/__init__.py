"""The looped latent world model: config, network (verbs, loss, sampling) and stability tools."""

from tsloop.model.config import PRESETS, ModelConfig
from tsloop.model.sampling import SamplePaths
from tsloop.model.stability import certified_bound, estimate_lipschitz, outer_bound, state_bound
from tsloop.model.world_model import ModelOutput, WorldModel

__all__ = ["PRESETS", "ModelConfig", "ModelOutput", "SamplePaths", "WorldModel",
           "certified_bound", "estimate_lipschitz", "outer_bound", "state_bound"]
