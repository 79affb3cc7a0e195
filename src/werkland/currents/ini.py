"""Drop-in runner for Circuitscape and Omniscape ``.ini`` files: :func:`run_ini`.

The file is read as both tools read it (``key = value`` lines; ``[section]`` headers and ``;``/``#``
comment lines ignored; later keys win). Circuitscape files are recognised by ``scenario`` /
``data_type`` / ``habitat_file``, Omniscape files by ``resistance_file`` / ``radius``.

Supported (everything else is refused by name, :data:`UNSUPPORTED`):

* Circuitscape ``data_type = raster``: ``scenario = pairwise`` (focal points or focal regions,
  short-circuit polygons, masks, include/exclude pair files), ``one-to-all`` and ``all-to-one``
  (variable source strengths, include pairs); ``data_type = network``: ``scenario = pairwise``.
  Options: 4/8 neighbours, average conductance or resistance, resistance or conductance maps, current,
  cumulative, maximum and voltage maps, null currents/voltages to nodata.
* Omniscape: radius, block_size, buffer, source_threshold, source file or source from resistance
  with r_cutoff, resistance as conductance, reclassification table, flow potential, normalised
  current, artefact correction, nodata masking, 4/8 neighbours, ASCII or GeoTIFF output.

Settings that change only speed or logging (solver choice, parallelism, precision, log files) are
accepted; werkland always computes in double precision with its own solver (``settings``).

Paths: both tools open relative paths against the process's working directory, so do these
(``workdir``, default the current directory). ``output_dir`` re-roots *relative* output paths
(Circuitscape's ``output_file``, Omniscape's ``project_name``) without touching the inputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from werkland._errors import WerklandInputError, closest
from werkland.currents.circuitscape import (
    network_pairwise,
    raster_one_to_all,
    raster_pairwise,
)
from werkland.currents.csio import NODATA, GridMeta, read_grid, read_table, write_grid
from werkland.currents.omniscape import OmniscapeSettings, omniscape, source_from_resistance
from werkland.currents.solver import SolverSettings

log = logging.getLogger(__name__)

__all__ = ["CIRCUITSCAPE_KEYS", "OMNISCAPE_KEYS", "UNSUPPORTED", "IniResult", "parse_ini", "run_ini"]

#: Circuitscape settings werkland reads (their defaults are Circuitscape's).
CIRCUITSCAPE_KEYS: dict[str, str] = {
    "data_type": "raster", "scenario": "not entered", "habitat_file": "", "habitat_map_is_resistances": "True",
    "connect_four_neighbors_only": "False", "connect_using_avg_resistances": "False",
    "use_polygons": "False", "polygon_file": "", "use_mask": "False", "mask_file": "None",
    "point_file": "", "use_included_pairs": "False", "included_pairs_file": "",
    "use_variable_source_strengths": "False", "variable_source_file": "None",
    "output_file": "", "write_cur_maps": "False", "write_cum_cur_map_only": "False",
    "write_max_cur_maps": "False", "write_volt_maps": "False", "set_null_currents_to_nodata": "False",
    "set_null_voltages_to_nodata": "False",
    # accepted, no effect on werkland's results (speed, logging, precision) or advanced mode only
    "solver": "cg+amg", "precision": "double", "version": "", "low_memory_mode": "False",
    "parallelize": "False", "max_parallel": "0", "print_timings": "False", "print_rusages": "False",
    "preemptive_memory_release": "False", "log_level": "INFO", "log_file": "None", "profiler_log_file": "None",
    "screenprint_log": "False", "cholmod_batch_size": "1000", "use_64bit_indexing": "false",
    "source_file": "", "ground_file": "", "ground_file_is_resistances": "True", "remove_src_or_gnd": "keepall",
    "use_unit_currents": "False", "use_direct_grounds": "False", "reclass_file": "", "residual_tolerance": "",
}

#: Omniscape settings werkland reads (their defaults are Omniscape's).
OMNISCAPE_KEYS: dict[str, str] = {
    "resistance_file": "", "source_file": "", "project_name": "", "radius": "", "block_size": "1", "buffer": "0",
    "source_threshold": "0", "source_from_resistance": "false", "r_cutoff": "Inf", "precision": "double",
    "calc_flow_potential": "false", "calc_normalized_current": "false", "correct_artifacts": "true",
    "write_raw_currmap": "true", "write_as_tif": "true", "mask_nodata": "true",
    "resistance_is_conductance": "false", "resistance_file_is_conductance": "false",
    "reclassify_resistance": "false", "reclass_table": "", "write_reclassified_resistance": "false",
    "connect_four_neighbors_only": "false", "solver": "cg+amg",
    "parallelize": "true", "parallel_batch_size": "10", "allow_different_projections": "false",
    "conditional": "false", "n_conditions": "1", "compare_to_future": "none",
}

#: Settings refused with a non-default value, and why.
UNSUPPORTED: dict[str, tuple[str, str]] = {
    "scenario=advanced": ("advanced", "advanced mode (user source/ground files) is not implemented"),
    "use_reclass_table": ("False", "reclassify the habitat map before the run"),
    "log_transform_maps": ("False", "Circuitscape sums log10-transformed pair maps into the cumulative map"),
    "set_focal_node_currents_to_zero": ("False", "focal node currents are kept"),
    "compress_grids": ("False", "outputs are plain ASCII grids"),
    "conditional": ("false", "Omniscape's conditional (climate) connectivity is not implemented"),
}

_CS_SOLVERS = ("cg+amg", "amg", "cholmod", "cg", "direct", "auto")
_TRUE = ("true", "1", "yes")


@dataclass
class IniResult:
    """What :func:`run_ini` did.

    Attributes
    ----------
    tool : str
        ``circuitscape`` or ``omniscape``.
    written : list of pathlib.Path
        Output files.
    residual : float
        Largest relative residual of the linear solves.
    resistances : numpy.ndarray or None
        Circuitscape's resistance output (matrix or two-column table).
    arrays : dict
        Omniscape maps (``cum_currmap``, ``flow_potential``, ``normalized_cum_currmap``).
    """

    tool: str
    written: list[Path]
    residual: float = 0.0
    resistances: np.ndarray | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def parse_ini(path: str | os.PathLike[str]) -> dict[str, str]:
    """``key -> value`` of an ``.ini`` file as Circuitscape/Omniscape read it.

    Raises
    ------
    WerklandInputError
        Missing file or a line without ``=``.
    """
    p = Path(path)
    if not p.exists():
        raise WerklandInputError("configuration file not found", path=str(p), fix="check the path")
    out: dict[str, str] = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or s[0] in "[;#":
            continue
        if "=" not in s:
            raise WerklandInputError(f"line {n} has no '='", path=str(p), fix="write settings as 'key = value'")
        k, v = s.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _tool(cfg: Mapping[str, str], path: Path) -> str:
    if "resistance_file" in cfg or "radius" in cfg:
        return "omniscape"
    if {"scenario", "data_type", "habitat_file"} & set(cfg):
        return "circuitscape"
    raise WerklandInputError("neither a Circuitscape nor an Omniscape configuration", path=str(path),
                             fix="Circuitscape needs scenario/habitat_file; Omniscape needs resistance_file/radius")


def _check_keys(cfg: Mapping[str, str], known: Mapping[str, str], tool: str, path: Path) -> None:
    for k in cfg:
        if k not in known and k not in UNSUPPORTED:
            log.warning("%s: %s setting %r is not used by werkland%s", path, tool, k, closest(k, known))
    for key, (default, why) in UNSUPPORTED.items():
        if key.startswith("scenario="):
            continue
        if key in cfg and cfg[key].strip().lower() != default.lower() and cfg[key].strip() != "":
            raise WerklandInputError(
                f"unsupported setting {key} = {cfg[key]} ({why})", path=str(path),
                fix=f"set {key} = {default} or run {tool} itself",
            )


def _resolvers(workdir: Path, output_dir: Path | None) -> tuple[Callable[[str], Path], Callable[[str], Path]]:
    def resolve(p: str) -> Path:
        q = Path(p.strip().strip('"').strip("'")).expanduser()
        return q if q.is_absolute() else workdir / q

    def resolve_out(p: str) -> Path:
        q = Path(p.strip().strip('"').strip("'")).expanduser()
        if q.is_absolute():
            return q
        return (output_dir or workdir) / q

    return resolve, resolve_out


def run_ini(
    path: str | os.PathLike[str],
    *,
    workdir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    settings: SolverSettings | None = None,
    n_workers: int = 1,
) -> IniResult:
    """Run a Circuitscape or Omniscape ``.ini`` file and write its outputs under the tool's names.

    Parameters
    ----------
    path : path-like
        The ``.ini`` file.
    workdir : path-like, optional
        Directory relative paths resolve against (default: the current directory, as the tools do).
    output_dir : path-like, optional
        Re-root relative output paths here (inputs still resolve against ``workdir``).
    settings : SolverSettings, optional
        werkland's solver (default ``auto``: direct factorisation up to 1.2 M nodes, AMG-CG beyond).
    n_workers : int
        Processes for Omniscape's moving window.

    Returns
    -------
    IniResult

    Raises
    ------
    WerklandInputError
        An unsupported setting (named), a missing input file or a malformed input.
    """
    p = Path(path)
    cfg = parse_ini(p)
    tool = _tool(cfg, p)
    wd = Path(workdir) if workdir is not None else Path.cwd()
    resolve, resolve_out = _resolvers(wd, Path(output_dir) if output_dir is not None else None)
    if tool == "circuitscape":
        return _run_circuitscape(cfg, p, resolve, resolve_out, settings)
    return _run_omniscape(cfg, p, resolve, resolve_out, settings, n_workers)


# ---------------------------------------------------------------------------------------------
# Circuitscape
# ---------------------------------------------------------------------------------------------


def _run_circuitscape(cfg: dict[str, str], path: Path, resolve, resolve_out, settings) -> IniResult:
    _check_keys(cfg, CIRCUITSCAPE_KEYS, "Circuitscape", path)
    full = {**CIRCUITSCAPE_KEYS, **cfg}
    data_type = full["data_type"].strip().lower()
    scenario = full["scenario"].strip().lower()
    if full["solver"].strip().lower() not in _CS_SOLVERS:
        raise WerklandInputError(f"unknown solver {full['solver']!r}", path=str(path),
                                 fix=f"use one of {', '.join(_CS_SOLVERS)}")
    if not full["output_file"]:
        raise WerklandInputError("output_file is not set", path=str(path), fix="set output_file = <name>.out")
    if data_type == "raster" and scenario == "pairwise":
        res = raster_pairwise(full, resolve, resolve_out, settings)
    elif data_type == "raster" and scenario in ("one-to-all", "all-to-one"):
        res = raster_one_to_all(full, resolve, resolve_out, settings)
    elif data_type == "network" and scenario == "pairwise":
        res = network_pairwise(full, resolve, resolve_out, settings)
    elif scenario == "advanced":
        raise WerklandInputError(f"unsupported setting scenario = {full['scenario']} ({UNSUPPORTED['scenario=advanced'][1]})",
                                 path=str(path), fix="run Circuitscape itself for advanced mode")
    else:
        raise WerklandInputError(
            f"unsupported setting data_type = {full['data_type']}, scenario = {full['scenario']}", path=str(path),
            fix="use raster pairwise, one-to-all or all-to-one, or network pairwise",
        )
    return IniResult("circuitscape", res.written, res.residual, res.resistances)


# ---------------------------------------------------------------------------------------------
# Omniscape
# ---------------------------------------------------------------------------------------------


def _t(cfg: Mapping[str, str], key: str) -> bool:
    return cfg[key].strip().lower() in _TRUE


def _num(cfg: Mapping[str, str], key: str, path: Path) -> float:
    try:
        return float(cfg[key])
    except ValueError as exc:
        raise WerklandInputError(f"{key} = {cfg[key]!r} is not a number", path=str(path), fix=f"set {key} to a number") from exc


def _project_dir(name: str, resolve_out) -> Path:
    base = resolve_out(name)
    if not base.exists():
        return base
    k = 1
    while Path(f"{base}_{k}").exists():
        k += 1
    return Path(f"{base}_{k}")


def _run_omniscape(cfg: dict[str, str], path: Path, resolve, resolve_out, settings, n_workers: int) -> IniResult:
    _check_keys(cfg, OMNISCAPE_KEYS, "Omniscape", path)
    full = {**OMNISCAPE_KEYS, **cfg}
    for key in ("resistance_file", "radius", "project_name"):
        if not full[key]:
            raise WerklandInputError(f"{key} is not set", path=str(path), fix=f"set {key}")
    solver = full["solver"].strip().lower()
    if solver not in ("cg+amg", "cholmod", "direct", "auto"):
        raise WerklandInputError(f"unsupported setting solver = {full['solver']}", path=str(path),
                                 fix="use solver = cg+amg or cholmod")
    res_raw, meta = read_grid(resolve(full["resistance_file"]))
    nodata = res_raw == NODATA
    resistance = res_raw.copy()
    if _t(full, "reclassify_resistance"):
        table = read_table(resolve(full["reclass_table"]))
        old = resistance.copy()
        for a, b in table[:, :2]:
            resistance[(old == a) & ~nodata] = b
        nodata = resistance == NODATA
    resistance[nodata] = np.nan
    is_cond = _t(full, "resistance_is_conductance") or _t(full, "resistance_file_is_conductance")
    if np.any(resistance[~nodata] <= 0):
        raise WerklandInputError("resistance values must be > 0", path=str(resolve(full["resistance_file"])),
                                 fix="use nodata (-9999) for impassable cells")
    if _t(full, "source_from_resistance"):
        r_cut = _num(full, "r_cutoff", path)
        if is_cond:
            src = np.where(nodata, 0.0, np.where(resistance >= 1.0 / r_cut, resistance, 0.0))
        else:
            src = source_from_resistance(resistance, r_cut)
    else:
        if not full["source_file"]:
            raise WerklandInputError("source_file is not set", path=str(path),
                                     fix="set source_file or source_from_resistance = true")
        src, _ = read_grid(resolve(full["source_file"]))
        src = np.where(src == NODATA, 0.0, src)
        src[src < _num(full, "source_threshold", path)] = 0.0
    block = int(round(_num(full, "block_size", path)))
    if block % 2 == 0:
        log.warning("%s: block_size %d is even; using %d (as Omniscape does)", path, block, block + 1)
    calc_fp, calc_norm = _t(full, "calc_flow_potential"), _t(full, "calc_normalized_current")
    st = OmniscapeSettings(
        radius=int(round(_num(full, "radius", path))), block_size=block,
        buffer=int(round(_num(full, "buffer", path))), correct_artifacts=_t(full, "correct_artifacts"),
        flow_potential=calc_fp or calc_norm, four_neighbors=_t(full, "connect_four_neighbors_only"),
    )
    out = omniscape(resistance, src, st, solver=settings, is_conductance=is_cond, n_workers=n_workers)
    arrays = {"cum_currmap": out.current}
    if calc_fp and out.flow_potential is not None:
        arrays["flow_potential"] = out.flow_potential
    if calc_norm and out.normalized is not None:
        arrays["normalized_cum_currmap"] = out.normalized
    if _t(full, "mask_nodata"):
        for a in arrays.values():
            a[nodata] = NODATA
    proj = _project_dir(full["project_name"], resolve_out)
    proj.mkdir(parents=True, exist_ok=True)
    single = full["precision"].strip().lower() in ("single", "float32", "32")
    tif = _t(full, "write_as_tif")
    written = []
    names = list(arrays)
    if not _t(full, "write_raw_currmap"):
        names.remove("cum_currmap")
    if _t(full, "reclassify_resistance") and _t(full, "write_reclassified_resistance"):
        arrays["classified_resistance"] = np.where(nodata, NODATA, resistance)
        names.append("classified_resistance")
    for name in names:
        written.append(_write_omni(proj / name, arrays[name], meta, tif=tif, single=single))
    return IniResult("omniscape", written, out.residual, None, arrays)


def _write_omni(base: Path, arr: np.ndarray, meta: GridMeta, *, tif: bool, single: bool) -> Path:
    a = arr.astype(np.float32 if single else np.float64)
    if not tif:
        p = base.with_suffix(".asc")
        write_grid(p, a, meta, nodata=NODATA)
        return p
    import rasterio
    from affine import Affine

    p = base.with_suffix(".tif")
    transform = meta.transform or Affine(meta.cellsize, 0.0, meta.xll, 0.0, -meta.cellsize,
                                         meta.yll + meta.nrows * meta.cellsize)
    prof = {"driver": "GTiff", "height": meta.nrows, "width": meta.ncols, "count": 1, "dtype": a.dtype.name,
            "transform": transform, "nodata": NODATA, "compress": "deflate"}
    if meta.crs is not None:
        prof["crs"] = meta.crs
    with rasterio.open(p, "w", **prof) as dst:
        dst.write(a, 1)
    return p
