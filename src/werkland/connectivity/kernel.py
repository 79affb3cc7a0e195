"""The dispersal kernel from a distance and a convention (the stage itself takes the guild's
:meth:`werkland.tables.Guild.kernel` through :class:`werkland.params.ConnectivityParams`)."""

from __future__ import annotations

import math

import numpy as np

from werkland._errors import WerklandInputError
from werkland.tables import CONVENTIONS, Kernel


def dispersal_kernel(d0_m: float, convention: str = "conefor", p0: float | None = None) -> Kernel:
    """Build a negative-exponential dispersal kernel ``p(d) = exp(-k d)``, ``k = -ln(p0) / d0``.

    Parameters
    ----------
    d0_m : float
        Distance (cost-weighted metres) at which the probability is ``p0``: the median dispersal
        distance in the Conefor convention, the "maximum" distance in the Graphab one.
    convention : {"conefor", "graphab"}
        Fixes ``p0`` (0.5 or 0.05, :data:`werkland.tables.CONVENTIONS`) unless ``p0`` is given.
    p0 : float, optional
        Override of the convention's probability (0 < p0 < 1); None = the convention's.

    Returns
    -------
    werkland.tables.Kernel

    Raises
    ------
    WerklandInputError
        Unknown convention, ``d0_m <= 0`` or ``p0`` outside (0, 1).

    Examples
    --------
    >>> round(dispersal_kernel(1000.0).k_per_m * 1000, 6)
    0.693147
    """
    if convention not in CONVENTIONS:
        raise WerklandInputError(
            f"unknown kernel convention {convention!r}",
            path="config: connectivity.convention",
            fix=f"use one of {sorted(CONVENTIONS)}",
        )
    if p0 is None:
        p0 = CONVENTIONS[convention]
    if not (isinstance(d0_m, (int, float, np.floating, np.integer)) and np.isfinite(d0_m) and d0_m > 0):
        raise WerklandInputError(f"d0_m = {d0_m!r} is not a positive distance", path="config: guilds.*.d0_m")
    if not (0.0 < float(p0) < 1.0):
        raise WerklandInputError(f"p0 = {p0!r} is not a probability in (0, 1)", path="config: guilds.*.p0")
    k = -math.log(float(p0)) / float(d0_m)
    return Kernel(float(d0_m), float(p0), float(k), convention)
