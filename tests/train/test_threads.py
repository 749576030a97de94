"""Torch's training threads (tsloop/train/threads.py): the idle cores, at least one."""

from __future__ import annotations

import os

import pytest
import torch

from tsloop.train import threads


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)


@pytest.mark.parametrize("load, expected", [(0.0, 4), (1.4, 3), (1.6, 2), (3.9, 1), (12.0, 1)])
def test_when_other_processes_load_the_cores_then_only_the_idle_ones_are_used(four_cores, monkeypatch, load,
                                                                             expected):
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert threads.auto_threads() == expected


def test_when_the_load_cannot_be_read_then_every_core_counts_as_idle(four_cores, monkeypatch):
    def unavailable():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert threads.auto_threads() == 4


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_when_a_count_is_given_then_torch_gets_it_and_zero_means_automatic(restore_threads, monkeypatch):
    assert threads.set_threads(2) == 2 and torch.get_num_threads() == 2
    monkeypatch.setattr(threads, "auto_threads", lambda: 3)
    assert threads.set_threads(0) == 3 and torch.get_num_threads() == 3
