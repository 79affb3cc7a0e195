"""Compiled (numba) kernels shared by the stages: one heap, one bounded grid search, the graph
kernels (all-pairs rows, tree losses, edge insertion), the barrier scores and the packed triangle.

Every kernel is ``njit(cache=True, nogil=True)``; the callers run them on threads.
"""
