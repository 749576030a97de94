"""The trained-model file (tsloop/bundle.py): written whole, read back identical, damage detected."""

from __future__ import annotations

import pytest
import torch

from tsloop.bundle import FORMAT, Bundle, checksum
from tsloop.errors import CheckpointError, TsloopError


def _bundle() -> Bundle:
    gen = torch.Generator().manual_seed(0)
    weights = {"core.weight": torch.randn(3, 4, generator=gen), "head.bias": torch.zeros(2)}
    return Bundle(model_config={"d_model": 4}, spec={"name": "t"}, scaler={"mean": [0.0]}, state_dict=weights,
                  meta={"seed": 0})


def test_when_a_bundle_is_saved_and_loaded_then_everything_comes_back_and_no_temporary_is_left(tmp_path):
    saved = _bundle()
    path = saved.save(tmp_path / "models" / "model.pt")
    loaded = Bundle.load(path)
    assert (loaded.model_config, loaded.spec, loaded.scaler, loaded.meta) == (
        saved.model_config, saved.spec, saved.scaler, saved.meta)
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in saved.state_dict.items())
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]


def _rewrite(path, change) -> None:
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)


def test_when_a_weight_is_damaged_then_loading_refuses_it(tmp_path):
    path = _bundle().save(tmp_path / "model.pt")
    _rewrite(path, lambda p: p["state_dict"]["core.weight"].view(-1)[5].add_(1e-3))
    with pytest.raises(CheckpointError, match="corrupted: its weights do not match the checksum"):
        Bundle.load(path)


def test_when_a_file_predates_checksums_then_it_still_loads(tmp_path):
    path = _bundle().save(tmp_path / "model.pt")
    _rewrite(path, lambda p: p.pop("checksum"))
    assert Bundle.load(path).meta == {"seed": 0}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"truncated", "not a readable tsloop model file"),
    ({"format": "other/1"}, f"expected format '{FORMAT}', found 'other/1'"),
    ([1, 2], "found 'list'"),
])
def test_when_the_file_is_missing_or_not_a_bundle_then_the_error_says_which(tmp_path, content, message):
    path = tmp_path / "model.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        Bundle.load(path)


def test_when_weights_differ_in_value_name_dtype_or_shape_then_the_checksum_differs():
    base = {"w": torch.arange(4.0)}
    others = [{"w": torch.arange(4.0) + 1}, {"v": torch.arange(4.0)}, {"w": torch.arange(4.0).double()},
              {"w": torch.arange(4.0).reshape(2, 2)}]
    assert checksum(base) == checksum({"w": torch.arange(4.0)})
    assert len({checksum(base), *(checksum(o) for o in others)}) == 1 + len(others)


def test_when_the_folder_cannot_be_written_then_saving_says_so(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(TsloopError, match="cannot write .*model.pt"):
        _bundle().save(tmp_path / "file" / "model.pt")


def test_when_a_model_write_was_killed_then_the_next_save_clears_its_temporary(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a pid that is gone
    debris = tmp_path / f".model.pt.{dead}.abc.tmp"
    debris.write_bytes(b"half a model")  # as a killed writer leaves it
    path = _bundle().save(tmp_path / "model.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"] and Bundle.load(path).meta == _bundle().meta
