"""werkland: where greening a business park pays off for nature and climate adaptation.

The library behind the werkland Snakemake workflow. One package per stage:

* :mod:`werkland.landcover` -- harmonise OSM / BGT / vector / raster land cover into one legend
* :mod:`werkland.habitat` -- habitat-suitability and resistance rasters per species guild
* :mod:`werkland.connectivity` -- habitat patches, least-cost links, PC/IIC/ECA/dPC, corridors
* :mod:`werkland.currents` -- circuit theory: effective resistance, current, pinch points, Omniscape
* :mod:`werkland.barriers` -- road/rail/water segments that cut corridors, ranked
* :mod:`werkland.species` -- GBIF occurrences: fetch, cache, clean, count, cite
* :mod:`werkland.climate` -- heat mitigation (InVEST UCM) and runoff (SCS curve number)
* :mod:`werkland.interventions` -- candidate measures, gains, budgeted selection
* :mod:`werkland.report` -- HTML report, maps, plots and QGIS styles

Shared: :mod:`werkland.layout` (every output path), :mod:`werkland.params` (typed stage
parameters), :mod:`werkland.raster` (I/O, CRS, windows), :mod:`werkland._kernels` (numba kernels).
See docs/architecture.md.

No module imports snakemake; the workflow's ``scripts/`` call these functions.
"""

from werkland._errors import WerklandError, WerklandInputError

__version__ = "0.1.0"
__all__ = ["WerklandError", "WerklandInputError", "__version__"]
