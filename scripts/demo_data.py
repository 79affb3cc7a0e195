"""Copy the demo OpenStreetMap extract shipped in pyrosm's wheel into resources/ (offline).

The file is pyrosm's ``pyrosm/data/test.osm.pbf`` (OpenStreetMap, (c) OpenStreetMap contributors,
ODbL 1.0): about 2.2 x 2.2 km in south-east Finland.
"""

from werkland.landcover import copy_demo_pbf
from werkland.runner import run_step

run_step(snakemake.log[0], copy_demo_pbf, snakemake.output.pbf)
