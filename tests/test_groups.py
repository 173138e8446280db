"""Segment statistics against per-group Python loops on random inputs."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lead.core.groups import (
    group_count,
    group_deviations,
    group_index,
    group_max,
    group_mean,
    group_median,
    group_min,
    group_sum,
    group_var,
    group_zscore,
    member_ids,
)


@st.composite
def grouped(draw):
    n = draw(st.integers(1, 30))
    num_groups = draw(st.integers(1, 6))
    gid = draw(st.lists(st.integers(0, num_groups - 1), min_size=n, max_size=n))
    x = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return torch.tensor(x, dtype=torch.float64), torch.tensor(gid), num_groups, torch.tensor(mask)


@settings(max_examples=200, deadline=None)
@given(grouped())
def test_masked_statistics_match_loops(data):
    x, gid, num_groups, mask = data
    for g in range(num_groups):
        members = [x[i].item() for i in range(len(x)) if gid[i] == g and mask[i]]
        assert group_count(gid, num_groups, mask)[g].item() == len(members)
        if not members:
            assert group_mean(x, gid, num_groups, mask)[g].item() == 0
            assert group_median(x, gid, num_groups, mask)[g].item() == 0
            assert group_min(x, gid, num_groups, mask)[g].item() == float("inf")
            continue
        assert group_mean(x, gid, num_groups, mask)[g].item() == pytest.approx(statistics.fmean(members), abs=1e-9)
        assert group_var(x, gid, num_groups, mask)[g].item() == pytest.approx(statistics.pvariance(members), abs=1e-6)
        assert group_median(x, gid, num_groups, mask)[g].item() == pytest.approx(statistics.median(members))
        assert group_min(x, gid, num_groups, mask)[g].item() == min(members)
        assert group_max(x, gid, num_groups, mask)[g].item() == max(members)
        if len(members) > 1:
            assert group_var(x, gid, num_groups, mask, unbiased=True)[g].item() == pytest.approx(
                statistics.variance(members), abs=1e-6
            )


@settings(max_examples=100, deadline=None)
@given(grouped())
def test_zscore_matches_verl_grpo_definition(data):
    x, gid, num_groups, _ = data
    got = group_zscore(x, gid, num_groups, eps=1e-6)
    for i in range(len(x)):
        members = x[gid == gid[i]]
        if len(members) == 1:
            want = x[i] / (1 + 1e-6)
        else:
            want = (x[i] - members.mean()) / (members.std() + 1e-6)
        assert got[i].item() == pytest.approx(want.item(), rel=1e-6, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(grouped())
def test_member_ids_select_like_the_mask(data):
    x, gid, num_groups, mask = data
    ids, slots = member_ids(gid, num_groups, mask), num_groups + 1
    assert torch.equal(group_count(ids, slots)[:num_groups], group_count(gid, num_groups, mask))
    assert torch.equal(group_sum(x, ids, slots)[:num_groups], group_sum(x, gid, num_groups, mask))
    assert torch.equal(group_min(x, ids, slots)[:num_groups], group_min(x, gid, num_groups, mask))
    assert torch.equal(group_max(x, ids, slots)[:num_groups], group_max(x, gid, num_groups, mask))
    assert torch.equal(group_median(x, ids, slots)[:num_groups], group_median(x, gid, num_groups, mask))


@settings(max_examples=100, deadline=None)
@given(grouped())
def test_deviations_keep_the_member_of_a_group_of_one(data):
    x, gid, num_groups, _ = data
    d, mean, sq = group_deviations(x, gid, num_groups)
    for g in range(num_groups):
        members = x[gid == g]
        if len(members) == 0:
            assert mean[g].item() == 0 and sq[g].item() == 0
            continue
        assert mean[g].item() == pytest.approx(members.mean().item(), abs=1e-9)
        if len(members) == 1:
            assert d[gid == g].item() == members.item() and sq[g].item() == 0
        else:
            assert torch.allclose(d[gid == g], members - members.mean(), atol=1e-9)
            assert sq[g].item() == pytest.approx(((members - members.mean()) ** 2).sum().item(), abs=1e-6)


def test_group_index_accepts_strings_ints_and_tensors():
    for labels in (np.array(["u2", "u1", "u2"], dtype=object), [7, 3, 7], torch.tensor([7, 3, 7])):
        gid, num = group_index(labels)
        assert num == 2 and gid[0] == gid[2] != gid[1]
    with pytest.raises(ValueError, match="one-dimensional"):
        group_index(np.zeros((2, 2)))
