"""The methods section: formulas, the dispersal kernel per guild, and the provenance table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from werkland.provenance import collect_provenance
from werkland.report.cards import as_float
from werkland.report.i18n import tr
from werkland.report.load import RegionData

#: The formulas of the methods section: name key (in :data:`werkland.report.i18n.STRINGS`) -> notation.
FORMULAS: tuple[tuple[str, str], ...] = (
    ("f_habitat", "s(x) = suitability(class(x)) * (edge_factor if dist(x, edge classes) <= edge_band_m else 1); "
                  "patches = 8-connected cells with s >= threshold and area >= min_patch_area_m2; "
                  "a_i = quality_ha = sum of s x cell area"),
    ("f_cost_distance", "MCP_Geometric, 8 neighbours: cost of a step = step length (m) x (R_a + R_b) / 2; "
                        "d_ij = least-cost distance edge to edge (cost-weighted m)"),
    ("f_kernel", "p_ij = exp(-k d_ij), k = -ln(p0) / d0; p*_ij = maximum product probability over all paths"),
    ("f_pc", "PCnum = sum_i sum_j a_i a_j p*_ij (ha^2, i = j included); PC = PCnum / A_L^2; ECA = sqrt(PCnum) (ha)"),
    ("f_dpc", "dPC_k = 100 (PCnum - PCnum_without_k) / PCnum = dPC_intra + dPC_flux + dPC_connector (Saura & Rubio 2010)"),
    ("f_iic", "IIC = sum_i sum_j a_i a_j / (1 + nl_ij) / A_L^2, nl_ij = number of links on the shortest topological path"),
    ("f_corridor", "NLCC(x) = min over links (CWD_a(x) + CWD_b(x) - LCD_ab), truncated at the corridor width"),
    ("f_barrier", "LCD'(x, R) = min_ring CWD_A + min_ring CWD_B + D, D = 2R; IS = (LCD - LCD') / D per m; "
                  "IS_pct = 100 IS / LCD (McRae et al. 2012)"),
    ("f_chao1", "S_chao1 = S_obs + (n-1)/n * f1 (f1 - 1) / (2 (f2 + 1))"),
    ("f_coverage", "C = 1 - f1/n * ((n-1) f1 / ((n-1) f1 + 2 f2))"),
    ("f_rarefaction", "S(m) = sum_i [1 - C(n - X_i, m) / C(n, m)] for m < n; "
                      "S(n + m*) = S_obs + f0 [1 - (1 - f1 / (n f0 + f1))^m*]"),
    ("f_cooling", "CC = 0.6 shade + 0.2 albedo + 0.2 ETI, ETI = kc ET0 / ET_max (weights configurable)"),
    ("f_heat", "CC_park = sum_j g_j CC_j exp(-d_ij / d_cool) over green cells within d_cool; "
               "HM = CC_park where green area within d_cool >= 2 ha and CC_park > CC, else CC"),
    ("f_runoff", "S = 25400 / CN - 254 (mm); Q = (P - lambda S)^2 / (P + (1 - lambda) S) for P > lambda S, "
                 "else 0; Q minus explicit storage (mm); excess = Q - Q_natural (m^3 and mm)"),
    ("f_storage", "storage needed = max(0, norm_mm x sealed area / 1000 - existing storage) (m^3)"),
    ("f_interventions", "score = w_bio * attainment_bio + w_climate * attainment_climate; ranking by score per k EUR; "
                        "lazy-greedy selection under the budget with marginal gains re-evaluated after each pick"),
)


def formulas(language: str) -> list[tuple[str, str]]:
    """(name in ``language``, notation) of every formula of :data:`FORMULAS`."""
    return [(tr(key, language), text) for key, text in FORMULAS]


def kernel_table(data: RegionData) -> list[dict[str, Any]]:
    """d0, p0, k per guild: the values the connectivity stage used, else the configured kernel.

    A guild with ``graph/{guild}_summary.json`` shows the kernel recorded there. Without it, the
    kernel comes from the guild table under the configured convention
    (:meth:`werkland.tables.Guild.kernel`): d0, p0 and k always belong to the convention shown
    (Graphab: p0 = 0.05, k = ln 20 / d0).
    """
    rows = []
    conv = data.params.convention
    for g, guild in data.guilds.items():
        s = data.summary[g]
        if s.ok:
            rows.append({"guild": g, "label": guild.label, "d0_m": as_float(s.value.get("d0_m")),
                         "p0": as_float(s.value.get("p0")), "k_per_m": as_float(s.value.get("k_per_m")),
                         "convention": s.value.get("convention", conv), "source": f"graph/{g}_summary.json"})
        else:
            kernel = guild.kernel(conv)
            rows.append({"guild": g, "label": guild.label, "d0_m": kernel.d0_m, "p0": kernel.p0,
                         "k_per_m": kernel.k_per_m, "convention": kernel.convention, "source": "config/guilds.yaml"})
    return rows


def provenance(
    data: RegionData,
    legend_yaml: str | os.PathLike[str],
    guilds_yaml: str | os.PathLike[str],
    extra_inputs: Sequence[str | os.PathLike[str]],
) -> dict[str, Any]:
    """The provenance table of the methods section (:func:`werkland.provenance.collect_provenance`).

    Hashes the stage outputs of the region folder, the legend, the guild table and ``extra_inputs``;
    lists the configuration as run, the software versions and the data citations.
    """
    return collect_provenance(
        data.paths.dir, data.params.config_as_run, extra_files=[legend_yaml, guilds_yaml, *extra_inputs]
    )


def connectivity_warnings(data: RegionData) -> dict[str, list[str]]:
    """Warnings the connectivity stage recorded per guild (from its summary)."""
    return {g: list(data.summary[g].value.get("warnings") or []) for g in data.guilds if data.summary[g].ok}
