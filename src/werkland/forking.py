"""Pools of forked worker processes that share the parent's memory copy-on-write.

A forked worker inherits the parent's objects without copying them, until a page is written. The
garbage collector writes one: a collection in the worker walks every container it tracks and
updates its header, so every page holding one of the parent's lists, dicts or objects (the guild
graphs' adjacency, the candidates) would be copied into each worker. :func:`forked_pool` forks with
the parent's objects frozen out of the collector (``gc.freeze``; unfrozen in the parent once the
workers exist), so the workers' collections only visit what they create themselves.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from multiprocessing.pool import Pool

__all__ = ["forked_pool"]


def forked_pool(processes: int) -> Pool:
    """A ``multiprocessing`` pool of ``processes`` workers forked from this process, forked with its
    objects frozen out of the garbage collector (see the module docstring).

    Parameters
    ----------
    processes : int
        Worker processes (all forked here, before this returns).

    Returns
    -------
    multiprocessing.pool.Pool
        The caller closes or terminates it (``with forked_pool(n) as pool:``).
    """
    gc.collect()  # what is garbage now is not frozen (and not inherited as live pages)
    gc.freeze()
    try:
        return mp.get_context("fork").Pool(processes)
    finally:
        gc.unfreeze()
