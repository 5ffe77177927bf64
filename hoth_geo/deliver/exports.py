"""Data exports with the sharing policy applied: hexagons, places, report rows and tables.

Every export returns bytes (the app offers them for download, the CLI writes them) and is recorded in
the append-only export log when given an ``engine`` (``export_reports`` always is). The frames behind
the files (``shareable_hexes``, ``shareable_places``) are public too, so maps and briefing packs show
exactly what the files hold.

Formats: GeoJSON (always EPSG:4326, RFC 7946), GeoPackage (EPSG:4326 or EPSG:27700), CSV (UTF-8 with a
BOM, CRLF) and XLSX (text cells stored as text, never as formulas). See docs/sharing-and-exports.md.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.engine import Engine

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.access.privacy import (
    POLICE_ONLY_COLUMNS,
    PTABLE_MAX_NOISE,
    NotAllowed,
    SharingPolicy,
    check_policy,
    check_resolution,
    disclose_counts,
    hex_counts,
    hide_private_names,
    is_suppressed,
    key_sums,
    named_place_rule,
    neutralise_frame,
    partner_filters,
    record_keys,
    redact_reports,
    redact_text,
    resolution_note,
    withheld_name,
)
from hoth_geo.analysis.aggregate import aggregate_hexes
from hoth_geo.analysis.hotspots import hotspots
from hoth_geo.analysis.places import place_ranking, with_coordinates
from hoth_geo.deliver.wayfinding import describe_cells_for
from hoth_geo.hexes import cell_centres, cells_to_parent, cells_to_str, hex_frame
from hoth_geo.schema import CONCERNS, PLACE_TYPES, key_counts
from hoth_geo.selection import ReportFilter, filter_mask, located

__all__ = [
    "FORMATS",
    "TABLE_FORMATS",
    "CRS_OPTIONS",
    "REPORT_EXPORT_COLUMNS",
    "ShareableHexes",
    "ShareablePlaces",
    "shareable_hexes",
    "shareable_places",
    "shareable_table",
    "export_hexes",
    "export_places",
    "export_layers",
    "export_reports",
    "export_table",
    "record_export",
    "export_filename",
    "filters_to_dict",
]

FORMATS = ("geojson", "gpkg", "csv", "xlsx")
TABLE_FORMATS = ("csv", "xlsx")
CRS_OPTIONS = ("EPSG:4326", "EPSG:27700")

# Columns whose text carries counts ('Hotel / B&B (3), Park (1)') or values a count can be rebuilt from
# (a share of a published type total, a Gi* z-score): export_table drops them outside the police.
COUNT_BEARING_COLUMNS = frozenset(
    {
        "top_place_types",
        "top_concerns",
        "concerns",
        "places_in_hex",
        "why",
        "share_of_type",
        "score",
        "baseline",
        "z",
        "p",
        "p_fdr",
        "distinct_places",
    }
)
# Per-row detail that would date or count a report a suppressed row hides: blanked in suppressed rows.
ROW_DETAIL_COLUMNS = ("agencies", "first", "last", "unknown_time_reports")

# Individual report rows as the police receive them, in reading order.
REPORT_EXPORT_COLUMNS = (
    "id",
    "source_ref",
    "observed_at",
    "time_known",
    "time_text",
    "date_received",
    "agency",
    "agency_type",
    "location_text",
    "place_name",
    "place_type",
    "postcode",
    "latitude",
    "longitude",
    "precision_m",
    "geocode_method",
    "h3",
    "online",
    "concerns",
    "indicators",
    "grading_source",
    "grading_information",
    "grading_handling",
    "narrative",
    "child_ref",
)

_TOP = 3  # categories named per hexagon in the partner breakdowns


# --- Validation ---------------------------------------------------------------------------------------


def _check_fmt(fmt: str, allowed: tuple[str, ...]) -> str:
    if fmt not in allowed:
        raise ValueError(f"fmt must be one of {', '.join(allowed)}, got {fmt!r}")
    return fmt


def _check_crs(crs: str, fmt: str) -> str:
    if crs not in CRS_OPTIONS:
        raise ValueError(f"crs must be one of {', '.join(CRS_OPTIONS)}, got {crs!r}")
    if fmt == "geojson" and crs != "EPSG:4326":
        raise ValueError(f"crs={crs!r} is not possible for GeoJSON, which is always EPSG:4326 (RFC 7946)")
    return crs


def _check_filters(filters) -> ReportFilter | None:
    if filters is not None and not isinstance(filters, ReportFilter):
        raise ValueError(f"filters must be a ReportFilter or None, got {type(filters).__name__}")
    return filters


# --- The shareable frames -------------------------------------------------------------------------------


def _thresholded_labels(matrix: np.ndarray, labels: list[str], k: int) -> list[str]:
    """'label; label' of the (up to _TOP) categories with at least k reports per row, most first, no
    numbers: naming a category only when k or more reports carry it says nothing about a few children."""
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :_TOP]
    return ["; ".join(labels[j] for j in idx if row[j] >= k) for row, idx in zip(matrix, order, strict=True)]


def _partner_breakdowns(
    reports: pd.DataFrame, res: int, filters: ReportFilter | None, cells: np.ndarray, k: int
) -> tuple[list[str], list[str]]:
    keep = filter_mask(reports, filters) & located(reports, res)
    codes = pd.Index(cells).get_indexer(cells_to_parent(reports["h3"].to_numpy()[keep], res))
    n = len(cells)
    types = list(PLACE_TYPES)
    tcodes = pd.Categorical(reports["place_type"].to_numpy()[keep], categories=types).codes.astype(np.int64)
    ok = tcodes >= 0
    tmatrix = np.bincount(codes[ok] * len(types) + tcodes[ok], minlength=n * len(types)).reshape(
        n, len(types)
    )
    masks = reports["concerns_mask"].to_numpy()[keep]
    cmatrix = key_counts(codes, masks, n, CONCERNS)
    return (
        _thresholded_labels(tmatrix, [PLACE_TYPES[t] for t in types], k),
        _thresholded_labels(cmatrix, [CONCERNS[c] for c in CONCERNS], k),
    )


def _order_shared(table: pd.DataFrame, count_col: str, tie_cols: list[str]) -> pd.DataFrame:
    """Shown counts largest first, then suppressed rows in a fixed order by ``tie_cols``: sorting the
    suppressed rows by their hidden counts would rank them and so leak which is larger."""
    hidden = table[count_col].map(is_suppressed).to_numpy(dtype=bool)
    key = np.where(hidden, -1, pd.to_numeric(table[count_col].where(~hidden), errors="coerce").fillna(-1))
    return (
        table.assign(_key=key)
        .sort_values(["_key", *tie_cols], ascending=[False] + [True] * len(tie_cols), kind="stable")
        .drop(columns="_key")
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class ShareableHexes:
    """Hexagon counts as one audience may see them (``shareable_hexes``).

    - ``table``: one row per hexagon, h3 as int64 (columns: see ``shareable_hexes``);
    - ``res``: the H3 resolution used, the audience's coarsest when a finer one was asked for;
    - ``res_requested``: the resolution asked for;
    - ``note``: a sentence for the reader when the resolution was coarsened, else None;
    - ``total``: the publishable total of the count column (exact for the police; perturbed and
      rounded, or ``WITHHELD_TOTAL``, for partners and the public).
    """

    table: pd.DataFrame
    res: int
    res_requested: int
    note: str | None
    total: int | str


@dataclass(frozen=True)
class ShareablePlaces:
    """Places as one audience may see them (``shareable_places``): ``table`` (columns: see there) and
    ``total``, the publishable total of its reports column (exact for the police)."""

    table: pd.DataFrame
    total: int | str


def shareable_hexes(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None,
    policy: SharingPolicy,
    *,
    with_hotspots: bool = False,
    gazetteer=None,
) -> ShareableHexes:
    """Hexagon counts as ``policy`` may see them (h3 as int64).

    - Police: h3, count, distinct_places, top_place_types, top_concerns (with counts); with_hotspots
      adds z, p_fdr and class.
    - Partner / public: h3, count (through ``privacy.disclose_counts``: suppressed, perturbed),
      common_place_types, common_concerns (categories with at least k reports in the hexagon, no
      numbers, blank where the count is suppressed); with_hotspots adds class only: a z-score is a
      linear function of the counts around it and, with those counts published, gives a small count
      back. The filters are those a partner may use (``privacy.partner_filters``: whole months, place
      type, concern; NotAllowed for agency or grading filters).

    With the area's ``gazetteer``, a ``where`` column after h3 names each hexagon's streets
    (``wayfinding.describe_cells_for``): an H3 id tells a meeting nothing. Outside the police never a
    venue: a hexagon with no street near is described by nothing.

    Returns a ``ShareableHexes``: the table with the resolution the audience may see (``res``,
    ``res_requested``, ``note``) and the publishable ``total``. With hotspots, grid cells with no
    report are included when they are classed hot or cold (count 0).
    """
    check_policy(policy)
    _check_filters(filters)
    filters = partner_filters(filters, policy)
    used = check_resolution(res, policy)
    police = not policy.suppresses
    table = aggregate_hexes(reports, used, filters, breakdowns=police)
    if with_hotspots:
        hs = hotspots(reports, used, filters).table
        cols = ["h3", "z", "p_fdr", "class"] if police else ["h3", "class"]
        table = table.merge(hs[cols], on="h3", how="outer")
        table = table[table["count"].notna() | (table["class"] != "not_significant")]
        table["count"] = table["count"].fillna(0).astype(np.int64)
        for col in ("top_place_types", "top_concerns"):
            if col in table:
                table[col] = table[col].fillna("")
        if "distinct_places" in table:
            table["distinct_places"] = table["distinct_places"].fillna(0).astype(np.int64)
        table = table.sort_values(["count", "h3"], ascending=[False, True], ignore_index=True)
    if police:
        out = table.reset_index(drop=True)
        total = int(out["count"].sum())
    else:
        types, concerns = _partner_breakdowns(reports, used, filters, table["h3"].to_numpy(), policy.k)
        keyed = hex_counts(reports, used, filters).set_index("h3")["cell_key"]
        cell_keys = keyed.reindex(table["h3"].to_numpy()).fillna(0).to_numpy(dtype=np.int64)
        table = table.assign(common_place_types=types, common_concerns=concerns)
        disclosed = disclose_counts(table, ["count"], policy, keys=cell_keys)
        out = disclosed.table
        out.loc[disclosed.hidden(), ["common_place_types", "common_concerns"]] = ""
        order = ["h3", "count", "common_place_types", "common_concerns"] + (
            ["class"] if with_hotspots else []
        )
        out = _order_shared(out[order], "count", ["h3"])
        total = disclosed.totals["count"]
    if gazetteer is not None:
        words = describe_cells_for(out["h3"].to_numpy(dtype=np.int64), used, gazetteer, name_places=police)
        out.insert(1, "where", words)
    return ShareableHexes(out, used, int(res), resolution_note(res, policy), total)


def shareable_places(
    reports: pd.DataFrame, places: pd.DataFrame, filters: ReportFilter | None, policy: SharingPolicy
) -> ShareablePlaces:
    """Places with at least one matching report as ``policy`` may see them, with point coordinates,
    and the publishable total of their reports (a ``ShareablePlaces``).

    - Police: place_id, name, place_type, place_type_label, locality, reports, agencies, first, last,
      latitude, longitude, for every place with a matching report.
    - Partner / public: named venues follow one rule (``privacy.named_place_rule``): none unless the
      policy carries a ``NamedPlacesRelease`` (partners only, made by a police or analyst user with a
      reason the export log records), and then only places with at least k matching reports from at
      least two agencies. Columns name, place_type, place_type_label, locality, reports (perturbed
      through ``privacy.disclose_counts``), latitude, longitude; no agencies, ids or dates.

    Places the places frame cannot locate are left out.
    """
    check_policy(policy)
    _check_filters(filters)
    filters = partner_filters(filters, policy)
    table = with_coordinates(place_ranking(reports, places, filters), places)
    table["place_type_label"] = table["place_type"].map(PLACE_TYPES).fillna("Not stated")
    table["reports"] = table["reports"].astype(np.int64)
    table["agencies"] = table["agencies"].astype(np.int64)
    if not policy.suppresses:
        cols = ["place_id", "name", "place_type", "place_type_label", "locality", "reports", "agencies"]
        out = table[[*cols, "first", "last", "latitude", "longitude"]].reset_index(drop=True)
        return ShareablePlaces(out, int(out["reports"].sum()))
    cols = ["name", "place_type", "place_type_label", "locality", "reports", "latitude", "longitude"]
    named = table[named_place_rule(table["reports"], table["agencies"], policy)].reset_index(drop=True)
    keys = _place_keys(reports, filters, named["place_id"].to_numpy())
    # Every place shown has k or more reports, so nothing is suppressed; no total of the places is
    # published (the places are a selection, not a partition of the reports).
    disclosed = disclose_counts(named[cols], ["reports"], policy, keys=keys, totals={"reports": "none"})
    out = _order_shared(disclosed.table, "reports", ["place_type", "locality", "name"])
    return ShareablePlaces(out, disclosed.totals["reports"])


def _place_keys(reports: pd.DataFrame, filters: ReportFilter | None, place_ids) -> np.ndarray:
    """The cell key of each place: the sum of the record keys of its matching reports."""
    keep = filter_mask(reports, filters) & reports["place_id"].notna().to_numpy()
    codes = pd.Index(pd.Series(place_ids, dtype=object)).get_indexer(
        reports["place_id"].astype(object).to_numpy()[keep]
    )
    return key_sums(record_keys(reports)[keep], codes, len(place_ids))


# --- Writers ---------------------------------------------------------------------------------------------


def _h3_strings(cells) -> list[str]:
    # Spreadsheets keep 15 significant digits, which would corrupt an int64 H3 index: write the hex string.
    return cells_to_str(cells)


def _xy_columns(crs: str) -> tuple[str, str]:
    return ("longitude", "latitude") if crs == "EPSG:4326" else ("easting", "northing")


def _cell_value(value):
    """A Python value openpyxl and json can hold: numpy scalars unwrapped, missing values as None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or (isinstance(value, pd.Timestamp) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, str | int | float | bool | datetime | date):
        return value
    if pd.isna(value):
        return None
    return str(value)


def _csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    neutralise_frame(df).to_csv(buf, index=False, lineterminator="\r\n")
    # A BOM so spreadsheets read UTF-8 (en dashes, accented names) correctly.
    return buf.getvalue().encode("utf-8-sig")


def _xlsx_bytes(sheets: dict[str, pd.DataFrame], policy: SharingPolicy, about: dict) -> bytes:
    """A workbook with one sheet per frame and an 'About' sheet; every text cell stored as text."""
    import openpyxl  # here, not at module level: only a workbook export needs it (~7 MB, 0.6 s)

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, df in {
        **sheets,
        "About": pd.DataFrame({"item": list(about), "value": list(about.values())}),
    }.items():
        ws = wb.create_sheet(title)
        # The protective marking on every printed page.
        ws.oddHeader.center.text = policy.marking
        ws.oddFooter.center.text = policy.marking
        safe = neutralise_frame(df)
        rows = itertools.chain([tuple(safe.columns)], safe.itertuples(index=False, name=None))
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                v = _cell_value(value)
                cell = ws.cell(row=r, column=c)
                cell.value = v
                if isinstance(v, str):
                    # Assigning a str starting with '=' makes openpyxl store a formula: force plain text.
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # a guard: neutralisation above means this never happens
                    raise RuntimeError(f"refusing to write a formula in {ws.title}!{cell.coordinate}")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _json_value(value):
    v = _cell_value(value)
    return v.isoformat() if isinstance(v, datetime | date) else v


def _geojson_bytes(gdf: gpd.GeoDataFrame, policy: SharingPolicy, about: dict) -> bytes:
    features = []
    props = [c for c in gdf.columns if c != "geometry"]
    for row, geom in zip(gdf[props].itertuples(index=False, name=None), gdf.geometry, strict=True):
        features.append(
            {
                "type": "Feature",
                # 6 decimals of a degree is ~0.1 m: more precision only adds bytes.
                "geometry": shapely.geometry.mapping(shapely.set_precision(geom, 1e-6)),
                "properties": {k: _json_value(v) for k, v in zip(props, row, strict=True)},
            }
        )
    # 'marking' and 'about' are foreign members, which RFC 7946 allows and readers ignore.
    doc = {"type": "FeatureCollection", "marking": policy.marking, "about": about, "features": features}
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")


def _gpkg_bytes(layers: dict[str, gpd.GeoDataFrame], policy: SharingPolicy, about: dict) -> bytes:
    import pyogrio  # here, not at module level: GDAL adds ~29 MB to a process that never writes a file

    meta = {"marking": policy.marking, **{k: str(v) for k, v in about.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.gpkg"
        for name, gdf in layers.items():
            pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG", layer_metadata=meta)
        return path.read_bytes()


def _gpkg_ready(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A GeoPackage field has one type: a count column mixing numbers and '<5' is written as text."""
    out = gdf.copy()
    for col in out.columns:
        if col == "geometry":
            continue
        values = out[col]
        if values.dtype == object and values.map(lambda v: isinstance(v, str)).any():
            out[col] = values.map(lambda v: None if _cell_value(v) is None else str(_cell_value(v)))
    return out


def _hex_layer(table: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    cells = table["h3"].to_numpy(dtype=np.int64)
    cols = {c: table[c].to_numpy() for c in table.columns if c != "h3"}
    gdf = hex_frame(cells, **cols)
    gdf["h3"] = _h3_strings(cells)
    gdf = gdf[["h3", *cols, "geometry"]]
    return gdf if crs == "EPSG:4326" else gdf.to_crs(crs)


def _place_layer(table: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    geom = gpd.points_from_xy(table["longitude"], table["latitude"], crs="EPSG:4326")
    gdf = gpd.GeoDataFrame(table.drop(columns=["latitude", "longitude"]), geometry=geom, crs="EPSG:4326")
    return gdf if crs == "EPSG:4326" else gdf.to_crs(crs)


def _with_xy(table: pd.DataFrame, lng: np.ndarray, lat: np.ndarray, crs: str) -> pd.DataFrame:
    """The table with point coordinates in ``crs`` (for CSV and XLSX, which carry no geometry)."""
    x_name, y_name = _xy_columns(crs)
    out = table.drop(columns=[c for c in ("latitude", "longitude") if c in table.columns])
    pts = gpd.GeoSeries(gpd.points_from_xy(lng, lat), crs="EPSG:4326")
    if crs != "EPSG:4326":
        pts = pts.to_crs(crs)
    digits = 6 if crs == "EPSG:4326" else 1
    out[x_name] = np.round(pts.x.to_numpy(), digits)
    out[y_name] = np.round(pts.y.to_numpy(), digits)
    return out


def _about(kind: str, policy: SharingPolicy, extra: dict) -> dict:
    return {
        "marking": policy.marking,
        "kind": kind,
        "audience": policy.audience,
        "generated_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "small_numbers": (
            f"counts of 1 to {policy.k - 1} shown as '{policy.small}'; '[c]' withheld to protect a small "
            "number elsewhere; other counts carry a small fixed noise (cell-key perturbation, at most "
            f"±{PTABLE_MAX_NOISE}); totals rounded to the nearest 5"
            if policy.suppresses
            else "exact counts (police only)"
        ),
        **extra,
    }


def _log(engine, data, *, policy, kind, filters, filename, exported_by, extra=None) -> None:
    if engine is None:
        return
    record_export(
        engine,
        data,
        policy=policy,
        kind=kind,
        filters={**filters_to_dict(filters), **(extra or {})},
        filename=filename,
        exported_by=exported_by,
    )


# --- Exports ---------------------------------------------------------------------------------------------


def export_hexes(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None,
    policy: SharingPolicy,
    *,
    fmt: str = "geojson",
    crs: str = "EPSG:4326",
    with_hotspots: bool = False,
    gazetteer=None,
    engine: Engine | None = None,
    exported_by: str | None = None,
    filename: str | None = None,
) -> bytes:
    """Hexagon counts (``shareable_hexes``) as GeoJSON, GeoPackage (layer 'hexes'), CSV or XLSX.

    h3 is the H3 hex string; with the area's ``gazetteer``, ``where`` names the hexagon's streets.
    CSV and XLSX carry the hexagon centre in ``crs`` (longitude/latitude or easting/northing) instead
    of a polygon. A res finer than the audience may see is coarsened (the log records both). Recorded
    in the export log when ``engine`` is given.
    """
    _check_fmt(fmt, FORMATS)
    _check_crs(crs, fmt)
    shared = shareable_hexes(reports, res, filters, policy, with_hotspots=with_hotspots, gazetteer=gazetteer)
    extra = {"res": shared.res, "res_requested": shared.res_requested, "crs": crs, "fmt": fmt}
    about = _about("hexes", policy, {"filters": _describe(filters), **extra, "total": shared.total})
    if shared.note:
        about["note"] = shared.note
    data = _write_hexes(shared.table, policy, fmt, crs, about)
    _log(
        engine,
        data,
        policy=policy,
        kind="hexes",
        filters=filters,
        filename=filename,
        exported_by=exported_by,
        extra={**extra, "with_hotspots": with_hotspots},
    )
    return data


def _describe(filters: ReportFilter | None) -> str:
    return filters.describe() if filters is not None else "all reports"


def _write_hexes(table: pd.DataFrame, policy: SharingPolicy, fmt: str, crs: str, about: dict) -> bytes:
    if fmt in ("csv", "xlsx"):
        lat, lng = cell_centres(table["h3"].to_numpy(dtype=np.int64))
        flat = _with_xy(table.assign(h3=_h3_strings(table["h3"])), lng, lat, crs)
        return _csv_bytes(flat) if fmt == "csv" else _xlsx_bytes({"hexes": flat}, policy, about)
    gdf = _hex_layer(table, crs)
    if fmt == "geojson":
        return _geojson_bytes(gdf, policy, about)
    return _gpkg_bytes({"hexes": _gpkg_ready(gdf)}, policy, about)


def export_places(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    filters: ReportFilter | None,
    policy: SharingPolicy,
    *,
    fmt: str = "geojson",
    crs: str = "EPSG:4326",
    engine: Engine | None = None,
    exported_by: str | None = None,
    filename: str | None = None,
) -> bytes:
    """Places with reports (``shareable_places``) as points: GeoJSON, GeoPackage (layer 'places'), or
    CSV / XLSX with coordinates in ``crs``. Recorded in the export log when ``engine`` is given.

    Raises NotAllowed for partners without a ``NamedPlacesRelease`` and for the public: a places file
    is a list of named venues."""
    _check_fmt(fmt, FORMATS)
    _check_crs(crs, fmt)
    _check_places_allowed(policy)
    shared = shareable_places(reports, places, filters, policy)
    table = shared.table
    about = _about("places", policy, {"filters": _describe(filters), "crs": crs, "total": shared.total})
    if fmt in ("csv", "xlsx"):
        flat = _with_xy(table, table["longitude"].to_numpy(), table["latitude"].to_numpy(), crs)
        data = _csv_bytes(flat) if fmt == "csv" else _xlsx_bytes({"places": flat}, policy, about)
    elif fmt == "geojson":
        data = _geojson_bytes(_place_layer(table, crs), policy, about)
    else:
        data = _gpkg_bytes({"places": _gpkg_ready(_place_layer(table, crs))}, policy, about)
    _log(
        engine,
        data,
        policy=policy,
        kind="places",
        filters=filters,
        filename=filename,
        exported_by=exported_by,
        extra={"crs": crs, "fmt": fmt},
    )
    return data


def _check_places_allowed(policy: SharingPolicy) -> None:
    check_policy(policy)
    if policy.suppresses and policy.named_places is None:
        raise NotAllowed(
            f"named places are not shared with the {policy.audience} audience unless a police or analyst user "
            "releases them for a partner export with a recorded reason (privacy.NamedPlacesRelease)"
        )


def _shares_places(policy: SharingPolicy) -> bool:
    return not policy.suppresses or policy.named_places is not None


def export_layers(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    res: int,
    filters: ReportFilter | None,
    policy: SharingPolicy,
    *,
    crs: str = "EPSG:4326",
    with_hotspots: bool = False,
    gazetteer=None,
    engine: Engine | None = None,
    exported_by: str | None = None,
    filename: str | None = None,
) -> bytes:
    """One GeoPackage for GIS users with the layer 'hexes' (its streets in ``where`` with the area's
    ``gazetteer``) and, for the police or a partner export with named places released
    (``privacy.NamedPlacesRelease``), the layer 'places'. Logged when given ``engine``."""
    _check_crs(crs, "gpkg")
    hexes = shareable_hexes(reports, res, filters, policy, with_hotspots=with_hotspots, gazetteer=gazetteer)
    layers = {"hexes": _gpkg_ready(_hex_layer(hexes.table, crs))}
    if _shares_places(policy):
        pts = shareable_places(reports, places, filters, policy).table
        layers["places"] = _gpkg_ready(_place_layer(pts, crs))
    extra = {"res": hexes.res, "res_requested": hexes.res_requested, "crs": crs, "fmt": "gpkg"}
    about = _about("layers", policy, {"filters": _describe(filters), **extra})
    if hexes.note:
        about["note"] = hexes.note
    data = _gpkg_bytes(layers, policy, about)
    _log(
        engine,
        data,
        policy=policy,
        kind="layers",
        filters=filters,
        filename=filename,
        exported_by=exported_by,
        extra={**extra, "with_hotspots": with_hotspots},
    )
    return data


def export_reports(
    engine: Engine,
    reports_ids_or_filter: Iterable[int] | ReportFilter | None,
    policy: SharingPolicy,
    *,
    fmt: str = "csv",
    exported_by: str | None = None,
    filename: str | None = None,
) -> bytes:
    """Individual report rows (narratives included) for the police; raises NotAllowed for any other
    audience before reading anything. Takes report ids, or a ReportFilter (None: every report).
    Always recorded in the export log, with the report ids exported."""
    check_policy(policy)
    _check_fmt(fmt, TABLE_FORMATS)
    if not policy.show_rows:  # refused before anything is read
        raise NotAllowed(f"individual report rows are for the police only, not audience {policy.audience!r}")
    if reports_ids_or_filter is None or isinstance(reports_ids_or_filter, ReportFilter):
        analysis = store.load_reports(engine)
        ids = analysis["id"].to_numpy()[filter_mask(analysis, reports_ids_or_filter)]
        filters = reports_ids_or_filter
    elif isinstance(reports_ids_or_filter, str | bytes):
        raise ValueError(
            f"reports_ids_or_filter must be report ids or a ReportFilter, got {reports_ids_or_filter!r}"
        )
    else:
        ids = np.asarray(list(reports_ids_or_filter))
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"reports_ids_or_filter must hold integer report ids, got {ids[:3].tolist()!r}")
        filters = None
    ids = sorted({int(i) for i in ids})
    rows = store.report_details(engine, ids).sort_values("id", ignore_index=True)
    rows = rows[[c for c in REPORT_EXPORT_COLUMNS if c in rows.columns]]
    rows = rows.assign(h3=cells_to_str(rows["h3"]))
    for col in ("observed_at", "date_received"):
        rows[col] = pd.to_datetime(rows[col])
    rows = redact_reports(rows, policy)
    about = _about("reports", policy, {"filters": _describe(filters), "rows": len(rows)})
    data = _csv_bytes(rows) if fmt == "csv" else _xlsx_bytes({"reports": rows}, policy, about)
    record_export(
        engine,
        data,
        policy=policy,
        kind="reports",
        filters={**filters_to_dict(filters), "report_ids": ids, "fmt": fmt},
        filename=filename,
        exported_by=exported_by,
    )
    return data


def shareable_table(df: pd.DataFrame, policy: SharingPolicy, *, count_cols=(), keys=None) -> pd.DataFrame:
    """A generic table (monthly trend, place ranking, patrol plan) as ``policy`` may see it.

    Outside the police: POLICE_ONLY_COLUMNS and COUNT_BEARING_COLUMNS are dropped; ``count_cols`` go
    through ``privacy.disclose_counts`` with their cell ``keys`` (grand totals assumed published);
    ROW_DETAIL_COLUMNS are blanked in rows where a count is suppressed; a ``name`` column follows the
    named-venue rule (withheld unless released and the row has k+ reports from 2+ agencies); vehicle
    registrations are masked. int64 h3 columns become H3 hex strings for everyone.
    """
    check_policy(policy)
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a DataFrame, got {type(df).__name__}")
    count_cols = (count_cols,) if isinstance(count_cols, str) else tuple(count_cols)
    out = df.copy()
    if policy.suppresses:
        dropped = [c for c in out.columns if c in POLICE_ONLY_COLUMNS or c in COUNT_BEARING_COLUMNS]
        bad = [c for c in count_cols if c in dropped]
        if bad:
            raise ValueError(f"count_cols: {bad[0]!r} is not shared with audience {policy.audience!r}")
        names_ok = None
        if "name" in out.columns:
            if {"reports", "agencies"} <= set(out.columns):
                names_ok = named_place_rule(
                    pd.to_numeric(out["reports"]).to_numpy(),
                    pd.to_numeric(out["agencies"]).to_numpy(),
                    policy,
                )
            else:
                names_ok = np.zeros(len(out), dtype=bool)
        out = out.drop(columns=dropped)
        if count_cols:
            disclosed = disclose_counts(out, count_cols, policy, keys=keys)
            out, hidden = disclosed.table, disclosed.hidden()
            for col in ROW_DETAIL_COLUMNS:
                if col in out.columns and col not in count_cols:
                    out[col] = out[col].astype(object)
                    out.loc[hidden, col] = None
        if names_ok is not None:
            types = out["place_type"] if "place_type" in out.columns else pd.Series(None, index=out.index)
            out["name"] = [
                name if ok else withheld_name(t)
                for name, ok, t in zip(
                    out["name"].astype(object), names_ok, types.astype(object), strict=True
                )
            ]
        if "agencies" in out.columns:
            out = out.drop(columns="agencies")
        out = redact_text(hide_private_names(out, policy), policy)
    if "h3" in out.columns and pd.api.types.is_integer_dtype(out["h3"]):
        out["h3"] = cells_to_str(out["h3"])
    return out


def export_table(
    df: pd.DataFrame,
    policy: SharingPolicy,
    *,
    fmt: str = "csv",
    count_cols=(),
    keys=None,
    kind: str = "table",
    filters: ReportFilter | dict | None = None,
    engine: Engine | None = None,
    exported_by: str | None = None,
    filename: str | None = None,
) -> bytes:
    """Any table (``shareable_table``) as CSV or XLSX. Recorded in the export log when given ``engine``."""
    _check_fmt(fmt, TABLE_FORMATS)
    table = shareable_table(df, policy, count_cols=count_cols, keys=keys)
    about = _about(kind, policy, {"rows": len(table)})
    data = _csv_bytes(table) if fmt == "csv" else _xlsx_bytes({kind[:31]: table}, policy, about)
    _log(
        engine,
        data,
        policy=policy,
        kind=kind,
        filters=filters,
        filename=filename,
        exported_by=exported_by,
        extra={"fmt": fmt, "count_cols": list(count_cols)},
    )
    return data


# --- The export log --------------------------------------------------------------------------------------


def filters_to_dict(filters: ReportFilter | dict | None) -> dict:
    """A JSON-ready dict of the filters (dates as ISO text); {} for None."""
    if filters is None:
        return {}
    if isinstance(filters, ReportFilter):
        d = dataclasses.asdict(filters)
        return {
            k: (v.isoformat() if isinstance(v, date) else list(v) if isinstance(v, tuple) else v)
            for k, v in d.items()
        }
    if isinstance(filters, dict):
        return dict(filters)
    raise ValueError(f"filters must be a ReportFilter or a dict, got {type(filters).__name__}")


def record_export(
    engine: Engine,
    data: bytes,
    *,
    policy: SharingPolicy,
    kind: str,
    filters: ReportFilter | dict | None,
    filename: str | None,
    exported_by: str | None,
) -> int:
    """Record one export in the append-only export log (who, when, audience, filters, SHA-256 of the
    bytes); the policy's k, resolution limit and marking are stored with the filters. Returns the id."""
    check_policy(policy)
    if not isinstance(data, bytes | bytearray):
        raise ValueError(f"data must be the exported bytes, got {type(data).__name__}")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty text, got {kind!r}")
    record = {
        **filters_to_dict(filters),
        "policy": {"k": policy.k, "coarsest_res": policy.coarsest_res, "marking": policy.marking},
    }
    if policy.named_places is not None:
        # The deliberate release of named venues to partners, with its reason, travels with the export.
        record["named_places"] = policy.named_places.as_record()
    return audit.log_export(
        engine,
        audience=policy.audience,
        kind=kind,
        filters=record,
        data=bytes(data),
        filename=filename,
        exported_by=exported_by,
    )


def export_filename(kind: str, policy: SharingPolicy, fmt: str, *, when: date | None = None) -> str:
    """A file name that carries the marking, e.g. 'OFFICIAL-SENSITIVE_hoth-geo_hexes_partner_2024-11-01.csv':
    CSV has nowhere else to hold a protective marking."""
    check_policy(policy)
    _check_fmt(fmt, FORMATS)
    day = (when or datetime.now(UTC).date()).isoformat()
    marking = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in policy.marking)
    safe_kind = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in kind)
    return f"{marking}_hoth-geo_{safe_kind}_{policy.audience}_{day}.{fmt}"
