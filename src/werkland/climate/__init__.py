"""Climate-adaptation baseline: heat mitigation and rainwater retention per business park.

Two per-pixel models run on the harmonised land-cover raster (``landcover.tif``, uint8 legend codes,
0 = outside the region), with the biophysical values of ``config/landcover_classes.yaml``:

- **heat** (:mod:`~werkland.climate.cooling`): the InVEST Urban Cooling Model, factors method
  (Sharp et al. 2020), and cool spots (Kluck et al. 2020: a cool place within 300 m);
- **water** (:mod:`~werkland.climate.runoff`): SCS curve-number event runoff as in the InVEST Urban
  Flood Risk Mitigation model (USDA-NRCS 1986, TR-55), minus explicit storage, and the natural
  reference runoff.

The model functions are pure numpy functions (array in, array out) that the interventions stage calls
on a changed land cover; they take :class:`werkland.params.ClimateParams` (from the validated config,
or ``ClimateParams.from_section({...})``: the schema defaults with some keys changed).
:func:`run_climate` is the file-level entry point of the workflow rule; :func:`summarise_parks`
(:mod:`~werkland.climate.parks`) makes its per-park table.

References
----------
Sharp, R. et al. (2020). InVEST User's Guide, Urban Cooling and Urban Flood Risk Mitigation models.
Natural Capital Project, Stanford University.
USDA-NRCS (1986). Urban Hydrology for Small Watersheds, Technical Release 55 (TR-55), 2nd ed.
Kluck, J. et al. (2020). De hittebestendige stad. Hogeschool van Amsterdam (cool place within 300 m).
"""

from werkland.climate.biophysical import SOIL_GROUPS, BiophysicalTable, load_biophysical
from werkland.climate.cooling import (
    CoolingResult,
    air_temperature,
    cool_spots,
    cooling_capacity,
    evapotranspiration_index,
    green_area_m2,
    heat_mitigation,
    heat_mitigation_index,
    landcover_cooling_capacity,
    park_cooling,
    urban_cooling,
)
from werkland.climate.parks import summarise_parks
from werkland.climate.runoff import (
    natural_reference_landcover,
    runoff_mm,
    scs_potential_retention_mm,
    scs_runoff_mm,
)
from werkland.climate.stage import run_climate
from werkland.params.climate import ClimateParams, Storm

__all__ = [
    "SOIL_GROUPS",
    "BiophysicalTable",
    "ClimateParams",
    "CoolingResult",
    "Storm",
    "air_temperature",
    "cool_spots",
    "cooling_capacity",
    "evapotranspiration_index",
    "green_area_m2",
    "heat_mitigation",
    "heat_mitigation_index",
    "landcover_cooling_capacity",
    "load_biophysical",
    "natural_reference_landcover",
    "park_cooling",
    "run_climate",
    "runoff_mm",
    "scs_potential_retention_mm",
    "scs_runoff_mm",
    "summarise_parks",
    "urban_cooling",
]
