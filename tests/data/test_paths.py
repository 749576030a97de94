"""The data root and the folder rule: errors name the setting that fixes them."""

from __future__ import annotations

import pytest

from tsloop.data.paths import resolve_path
from tsloop.errors import SpecError


def test_when_a_shared_file_is_missing_then_the_error_names_the_data_root_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("TSLOOP_DATA_DIR", str(tmp_path))
    with pytest.raises(SpecError, match=r"not found in the data root .*TSLOOP_DATA_DIR"):
        resolve_path("shared:epf/nowhere.csv", None, allow_outside=False)


def test_when_a_shared_file_exists_then_it_resolves_under_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TSLOOP_DATA_DIR", str(tmp_path))
    (tmp_path / "a.csv").write_text("x\n1\n")
    assert resolve_path("shared:a.csv", None, allow_outside=False) == (tmp_path / "a.csv").resolve()
