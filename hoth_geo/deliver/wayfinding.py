"""Hexagons in words an officer can act on: "Saddler Street / Market Place, Elvet".

An H3 id tells nobody where to stand. Each hexagon is described by the streets of the area's
gazetteer that lie inside it (the most-used map points first), or, when none does, by the nearest
street within a few hexagon widths, said as "near ...". The locality is the one most of those street
points carry. A hexagon with no street nearby is described by its nearest gazetteer place, and
failing that by nothing at all (an empty string): never by a guess from far away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from hoth_geo import hexes as hx
from hoth_geo.intake.gazetteer import local_metres

__all__ = ["describe_cells", "describe_cells_for", "NEAR_EDGES"]

NEAR_EDGES = 3.0  # how far, in hexagon edge lengths from the centre, a "near" street may be
_MAX_STREETS = 2


def _street_points(streets: pd.DataFrame) -> pd.DataFrame:
    needed = {"street", "latitude", "longitude"}
    missing = needed - set(streets.columns)
    if missing:
        raise ValueError(f"streets is missing column(s) {sorted(missing)}; needs {sorted(needed)}")
    s = streets.loc[
        streets["street"].notna() & streets["latitude"].notna() & streets["longitude"].notna()
    ].copy()
    s["street"] = s["street"].astype(str).str.strip()
    s = s[s["street"] != ""]
    if "n_points" not in s.columns:
        s["n_points"] = 1
    if "locality" not in s.columns:
        s["locality"] = None
    return s.reset_index(drop=True)


def _phrase(names: list[str], locality: object) -> str:
    text = " / ".join(names)
    if isinstance(locality, str) and locality.strip() and locality.strip() not in names:
        text += f", {locality.strip()}"
    return text


def _nearest_within(points: pd.DataFrame, cells: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """For each cell, whether a point lies within ``NEAR_EDGES`` edge lengths of its centre, and the
    position in ``points`` (latitude, longitude) of the nearest one."""
    if points.empty or len(cells) == 0:
        return np.zeros(len(cells), dtype=bool), np.zeros(len(cells), dtype=np.int64)
    lat, lng = hx.cell_centres(cells)
    lat0 = float(np.nanmean(points["latitude"]))
    tree = cKDTree(local_metres(points["latitude"].to_numpy(), points["longitude"].to_numpy(), lat0))
    dist, idx = tree.query(
        local_metres(lat, lng, lat0), distance_upper_bound=NEAR_EDGES * hx.edge_length_m(res)
    )
    return np.isfinite(dist), idx


def describe_cells(cells, res: int, streets: pd.DataFrame, places: pd.DataFrame | None = None) -> pd.Series:
    """One description per cell (same order), from the gazetteer's ``streets`` (street, locality,
    latitude, longitude[, n_points]) and optionally ``places`` (name, latitude, longitude).

    Returns a string Series indexed like ``cells``; "" where nothing lies within ``NEAR_EDGES`` edge
    lengths of the cell's centre.
    """
    res = hx.check_res(res)
    cells = np.asarray(cells, dtype=np.int64)
    out = np.full(len(cells), "", dtype=object)
    if len(cells) == 0:
        return pd.Series(out, dtype=object)
    s = _street_points(streets)
    done = np.zeros(len(cells), dtype=bool)
    if not s.empty:
        s["cell"] = hx.latlng_to_cells(s["latitude"].to_numpy(float), s["longitude"].to_numpy(float), res)
        wanted = s[s["cell"].isin(cells)]
        if not wanted.empty:
            # Per cell: street names by how many map points they have there, most first.
            per_street = (
                wanted.groupby(["cell", "street"], sort=False)["n_points"]
                .sum()
                .reset_index()
                .sort_values(["cell", "n_points", "street"], ascending=[True, False, True], kind="stable")
            )
            top = per_street.groupby("cell", sort=False).head(_MAX_STREETS)
            names = top.groupby("cell", sort=False)["street"].agg(list)
            locality = (
                wanted.dropna(subset=["locality"])
                .groupby(["cell", "locality"], sort=False)["n_points"]
                .sum()
                .reset_index()
                .sort_values(["cell", "n_points", "locality"], ascending=[True, False, True], kind="stable")
                .drop_duplicates("cell")
                .set_index("cell")["locality"]
            )
            text_by_cell = {
                cell: _phrase(street_names, locality.get(cell))
                for cell, street_names in zip(names.index, names.to_list(), strict=True)
            }
            found = pd.Series(cells).map(text_by_cell)
            done = found.notna().to_numpy().copy()
            out[done] = found[done].to_numpy()
        # The rest: the nearest street point within reach, said as "near ...".
        rest = np.flatnonzero(~done)
        found, idx = _nearest_within(s, cells[rest], res)
        street, locality = s["street"].to_numpy(), s["locality"].to_numpy()
        for q, i in zip(rest[found], idx[found], strict=True):
            out[q] = "near " + _phrase([street[i]], locality[i])
            done[q] = True
    if places is not None and not places.empty and not done.all():
        p = places.loc[places["name"].notna() & places["latitude"].notna() & places["longitude"].notna()]
        rest = np.flatnonzero(~done)
        found, idx = _nearest_within(p, cells[rest], res)
        name = p["name"].to_numpy()
        for q, i in zip(rest[found], idx[found], strict=True):
            out[q] = "near " + str(name[i])
    return pd.Series(out, dtype=object)


def describe_cells_for(cells, res: int, gazetteer, *, name_places: bool) -> list[str]:
    """``describe_cells`` from ``gazetteer`` (its ``streets`` and ``places``; "" for every cell when it
    has no streets). ``name_places=False`` leaves the gazetteer's places out: a hexagon with no street
    near is then described by nothing rather than by a venue's name (outside the police, a venue is
    named only under ``privacy.named_place_rule``)."""
    streets = getattr(gazetteer, "streets", None)
    if streets is None or streets.empty:
        return [""] * len(cells)
    places = gazetteer.places if name_places else None
    return describe_cells(cells, res, streets, places).tolist()
