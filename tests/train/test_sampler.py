"""EpochSampler: one order per (seed, epoch), split into disjoint rank shards, resumable mid-epoch."""

from __future__ import annotations

import pytest

from tsloop.train.sampler import EpochSampler


def _epoch(sampler: EpochSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_when_sharded_over_ranks_then_the_shards_are_disjoint_and_cover_the_global_order():
    ranks = [EpochSampler(11, seed=3, rank=r, world=3) for r in range(3)]
    shards = [_epoch(s, 2) for s in ranks]
    assert [len(s) for s in shards] == [len(r) for r in ranks] == [4, 4, 4]  # 11 padded to 12
    order = ranks[0].global_order()
    assert sorted({i for s in shards for i in s}) == list(range(11))
    assert [order[i * 3 + r] for r in range(3) for i in range(4)] == [i for s in shards for i in s]


def test_when_the_epoch_changes_then_the_order_changes_and_an_epoch_repeats_itself():
    sampler = EpochSampler(50, seed=0, rank=1, world=2)
    assert _epoch(sampler, 0) != _epoch(sampler, 1)
    assert _epoch(sampler, 1) == _epoch(sampler, 1) == _epoch(EpochSampler(50, seed=0, rank=1, world=2), 1)


def test_when_resuming_then_only_the_resumed_epoch_skips_however_often_it_is_iterated():
    whole = EpochSampler(40, seed=1, rank=0, world=2)
    resumed = EpochSampler(40, seed=1, rank=0, world=2, skip=6, skip_epoch=3)
    assert list(resumed) == list(resumed) == _epoch(whole, 3)[6:]  # before set_epoch: already epoch 3
    assert _epoch(resumed, 4) == _epoch(whole, 4)


def test_when_not_shuffling_then_ranks_take_interleaved_windows_in_order():
    assert list(EpochSampler(5, shuffle=False, rank=1, world=2)) == [1, 3, 0]
    with pytest.raises(ValueError, match="rank 2 outside a world of 2"):
        EpochSampler(5, rank=2, world=2)
