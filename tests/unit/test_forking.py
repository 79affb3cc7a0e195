"""Forked worker pools: the parent's objects are frozen out of the workers' garbage collector."""

from __future__ import annotations

import gc
import os

import pytest

from werkland.forking import forked_pool

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork start method only (POSIX)")


def _frozen_in_worker(_: int) -> int:
    return gc.get_freeze_count()


def test_workers_inherit_the_parent_objects_frozen_and_the_parent_is_unfrozen():
    keep = [{"node": i} for i in range(20_000)]  # containers the workers inherit
    with forked_pool(2) as pool:
        counts = pool.map(_frozen_in_worker, range(4))
    assert gc.get_freeze_count() == 0  # the parent collects its objects as before
    assert all(c >= len(keep) for c in counts)  # in the workers they are out of the collector's reach
