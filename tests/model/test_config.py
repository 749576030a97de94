import json

import pytest

from tsloop.data.batch import ChannelDims
from tsloop.errors import CheckpointError, SpecError
from tsloop.model import PRESETS, ModelConfig

DIMS = ChannelDims(target=2, known_future=1, intervention=1, event=1)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_when_config_goes_through_a_json_dict_then_it_comes_back_equal(name):
    cfg = ModelConfig.preset(name, dims=DIMS, context_length=96, horizon=24, copula_rho=0.3)
    back = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert back.dims == DIMS


def test_when_preset_is_built_then_task_shape_and_overrides_apply():
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=30, horizon=7, patch_len=4, deferred=False)
    assert (cfg.target, cfg.intervention, cfg.event, cfg.static) == (2, 1, 1, 0)
    assert (cfg.context_patches, cfg.horizon_patches) == (8, 2)
    assert cfg.deferred is False and cfg.d_model == PRESETS["tiny"]["d_model"]


def test_when_curriculum_advances_then_k_grows_by_one_every_delta_steps_up_to_k_max():
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=16, horizon=16, patch_len=4, k_every=10)
    assert [cfg.deferred_k(s) for s in (0, 9, 10, 25, 1000)] == [1, 1, 2, 3, 4]
    assert ModelConfig.from_dict({**cfg.to_dict(), "k_max": 2}).deferred_k(1000) == 2


def test_when_preset_is_unknown_then_spec_error_names_the_choices():
    with pytest.raises(SpecError, match="tiny"):
        ModelConfig.preset("huge", dims=DIMS, context_length=96, horizon=24)


@pytest.mark.parametrize("bad", [dict(kappa=1.0), dict(retention_max=0.95), dict(exit_rule="kl"),
                                 dict(quantiles=(0.5, 0.1)), dict(f_hidden=33)])
def test_when_a_value_is_invalid_then_spec_error(bad):
    with pytest.raises(SpecError):
        ModelConfig.preset("tiny", dims=DIMS, context_length=96, horizon=24, **bad)


def test_when_checkpoint_dict_has_unknown_key_then_checkpoint_error():
    data = ModelConfig.preset("tiny", dims=DIMS, context_length=96, horizon=24).to_dict()
    with pytest.raises(CheckpointError, match="unknown keys"):
        ModelConfig.from_dict({**data, "n_heads": 4})


def test_when_context_has_several_patches_then_the_last_are_filtered_and_the_rest_encoded():
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=16, horizon=8, patch_len=4, filter_patches=1)
    assert (cfg.context_patches, cfg.encode_patches) == (4, 3)
    one = ModelConfig.preset("tiny", dims=DIMS, context_length=4, horizon=8, patch_len=4, filter_patches=3)
    assert one.encode_patches == 1  # at least one token is always encoded


@pytest.mark.parametrize("levels, index", [((0.1, 0.5, 0.9), 1), ((0.05, 0.25, 0.45, 0.75), 2), ((0.6, 0.7), 0)])
def test_median_index_is_the_level_nearest_one_half(levels, index):
    assert ModelConfig.preset("tiny", dims=DIMS, context_length=96, horizon=24, quantiles=levels).median_index == index


def test_quantile_index_is_the_nearest_level_and_the_first_of_a_tie():
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=96, horizon=24, quantiles=(0.25, 0.5, 0.75))
    # 0.375 and 0.625 lie exactly halfway (binary fractions): the lower level wins
    assert [cfg.quantile_index(level) for level in (0.1, 0.25, 0.375, 0.45, 0.625, 0.99)] == [0, 0, 0, 1, 1, 2]


def test_an_adapted_model_takes_the_default_covariate_terms_unless_its_base_had_covariates():
    from tsloop.data.spec import TaskSpec
    from tsloop.model.config import COVARIATE_PATH

    spec = TaskSpec(target=["load"], known_future=["price", "hour"], freq="1h", context_length=64, horizon=16)
    old = ModelConfig.from_dict({k: v for k, v in ModelConfig.preset("tiny", dims=ChannelDims(target=1), context_length=32, horizon=8).to_dict().items()
                                 if k != "linear_known_poly"})  # a univariate file written before the monomials
    assert old.linear_known_poly == 0
    adapted = ModelConfig.for_task_from(old, spec)
    fresh = ModelConfig.for_task("tiny", spec)
    assert all(getattr(adapted, k) == getattr(fresh, k) for k in COVARIATE_PATH) and adapted.linear_known_poly == 3
    assert (adapted.d_model, adapted.known_future) == (old.d_model, 2)  # the base's size, the task's channels
    with_covariates = ModelConfig.preset("tiny", dims=ChannelDims(target=1, known_future=1), context_length=32,
                                         horizon=8, linear_known_poly=0,
                                         linear_context_covariates="none")
    kept = ModelConfig.for_task_from(with_covariates, spec)  # its covariate terms were trained: they carry over
    assert (kept.linear_known_poly, kept.linear_context_covariates) == (0, "none")
    assert ModelConfig.for_task_from(old, spec, linear_known_poly=2).linear_known_poly == 2  # overrides win
