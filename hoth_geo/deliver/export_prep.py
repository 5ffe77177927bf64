"""Export preparation: the bytes of one map, briefing pack or data file for one audience, and its entry
in the export log.

``prepare_export`` makes the bytes for one kind, audience and selection (nothing written or recorded);
``record`` adds one row to the export log. The app's Export page and ``hoth-geo export`` both use these
two functions, so a file made in the app and one made on the command line with the same settings hold
the same content.

What each kind holds (see docs/sharing-and-exports.md for the rules behind them):

- ``map-png`` / ``map-pdf``: ``static_maps.render_map`` of report counts, Gi* classes or emerging
  hot spot categories; a 16:9 screen image or one A4-landscape page.
- ``map-html``: ``maps.build_hex_map`` on the audience's shareable hexagons, as one self-contained page.
  For partners and the public the hexagons are coloured and labelled by count bands ('<5', '5–9',
  '10–19', '20–49', '50+'), never by their count, so no tooltip shows a small number.
- ``briefing``: the multi-page MACE briefing pack (``briefing.briefing_pack``).
- ``geojson`` / ``csv`` / ``xlsx``: the hexagon table (``exports.export_hexes``).
- ``gpkg``: one GeoPackage with the 'hexes' and 'places' layers (``exports.export_layers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hoth_geo.deliver.maps import count_bands
from hoth_geo.errors import DataConditionError
from hoth_geo.validation import check_choice

__all__ = [
    "KINDS",
    "MAP_KINDS",
    "MAP_TYPES",
    "MAP_TITLES",
    "PreparedExport",
    "disclosed_too_few",
    "interactive_map",
    "pdf_page_count",
    "prepare_export",
    "record",
    "suggested_filename",
]

# Export kind -> the file suffixes it may be written to (the first is the one the app uses).
KINDS: dict[str, tuple[str, ...]] = {
    "map-png": (".png",),
    "map-pdf": (".pdf",),
    "map-html": (".html", ".htm"),
    "briefing": (".pdf",),
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "csv": (".csv",),
    "xlsx": (".xlsx",),
}
MAP_KINDS = ("map-png", "map-pdf", "map-html")
MAP_TYPES = ("count", "gistar", "emerging")
MAP_TITLES = {
    "count": "Reports per hexagon",
    "gistar": "Hotspots (Getis-Ord Gi*)",
    "emerging": "Emerging hot spots",
}
# What the export log records as the kind (the exports library's names), per export kind.
_LOG_KINDS = {
    "map-png": "map",
    "map-pdf": "map",
    "map-html": "map",
    "briefing": "briefing",
    "geojson": "hexes",
    "gpkg": "layers",
    "csv": "hexes",
    "xlsx": "hexes",
}


# --- Building the bytes ------------------------------------------------------------------------------------


@dataclass
class PreparedExport:
    """One export, ready to write or offer for download (not yet recorded unless ``export_id`` is set)."""

    data: bytes
    kind: str  # one of KINDS
    log_kind: str  # the kind the export log records ('map', 'briefing', 'hexes', 'layers')
    suffix: str  # file suffix without the dot ('png', 'pdf', 'html', 'geojson', ...)
    filename: str  # a suggested file name that starts with the marking
    audience: str
    marking: str
    res: int  # the resolution used
    res_requested: int
    note: str | None  # the coarsening sentence, when the resolution was coarsened
    details: dict = field(default_factory=dict)  # what else the export log records (fmt, crs, map type)
    export_id: int | None = None


def suggested_filename(kind: str, policy, *, log_kind: str | None = None) -> str:
    """``exports.export_filename`` for the kind, with the kind's own suffix (png, pdf, html too)."""
    from hoth_geo.deliver.exports import FORMATS, export_filename

    suffix = KINDS[kind][0].lstrip(".")
    name = export_filename(log_kind or _LOG_KINDS[kind], policy, suffix if suffix in FORMATS else "csv")
    return name if suffix in FORMATS else str(Path(name).with_suffix("." + suffix))


def _top_places(reports, places, filters, policy) -> pd.DataFrame | None:
    """Most-reported places for the police map's markers; None for other audiences, whose maps carry
    hexagons only (a marker's size and tooltip would show a count)."""
    from hoth_geo.analysis.places import top_places

    if policy.suppresses or places is None:
        return None
    ranked = top_places(reports, places, filters)
    return None if ranked.empty else ranked


def disclosed_too_few(exc, reports, filters, policy) -> DataConditionError:
    """``hotspots.TooFewReports`` as the audience may read it: for partners and the public the number
    of matching reports goes through the disclosure path (``privacy.too_few_message``), never exact."""
    from hoth_geo.access import privacy

    if not policy.suppresses:
        return exc
    return DataConditionError(privacy.too_few_message(exc, reports, filters, policy))


def interactive_map(reports, places, *, res: int, filters, policy, map_type: str = "count"):
    """The folium map an audience receives as map-html (and the app previews): hexagons at the
    resolution the audience may see. Police: numeric counts and breakdowns, most-reported places.
    Partner / public: count bands and the categories with at least k reports, no number anywhere."""
    from hoth_geo.access.privacy import partner_filters
    from hoth_geo.analysis.hotspots import TooFewReports

    filters = partner_filters(filters, policy)
    try:
        return _interactive_map(reports, places, res=res, filters=filters, policy=policy, map_type=map_type)
    except TooFewReports as exc:
        raise disclosed_too_few(exc, reports, filters, policy) from None


def _interactive_map(reports, places, *, res: int, filters, policy, map_type: str = "count"):
    from hoth_geo.access.privacy import check_resolution
    from hoth_geo.analysis import aggregate, temporal
    from hoth_geo.deliver import maps
    from hoth_geo.deliver.exports import shareable_hexes
    from hoth_geo.deliver.wayfinding import describe_cells_for
    from hoth_geo.intake.area import gazetteer_in_use

    check_choice(map_type, "map_type", MAP_TYPES)
    police = not policy.suppresses
    used = check_resolution(res, policy)
    gazetteer = gazetteer_in_use()  # every tooltip names its hexagon's streets (a partner's never a venue)
    if map_type == "emerging":
        em = temporal.emerging_hotspots(reports, used, filters=filters).table
        em = em.assign(where=describe_cells_for(em["h3"].to_numpy(), used, gazetteer, name_places=police))
        cols = {"where": "Where", **({"total_count": "Reports in the period"} if police else {})}
        return maps.build_hex_map(
            em[["h3", "category", *cols]],
            value_col="category",
            value_label="Category",
            tooltip_cols=cols,
            categories=maps.EMERGING_CATEGORIES,
            legend_title=MAP_TITLES["emerging"],
        )
    table = shareable_hexes(
        reports, used, filters, policy, with_hotspots=map_type == "gistar", gazetteer=gazetteer
    ).table
    if map_type == "gistar":
        if police:
            tips = {"where": "Where", "count": "Reports", "z": "Gi* z-score", "p_fdr": "p (FDR)"}
            frame = table[["h3", "class", *tips]]
        else:
            _keys, labels = count_bands(table["count"], policy.k)
            frame = table[["h3", "class", "where"]].assign(reports=labels)
            tips = {"where": "Where", "reports": "Reports"}
        return maps.build_hex_map(
            frame,
            value_col="class",
            value_label="Class",
            tooltip_cols=tips,
            categories=maps.GISTAR_CATEGORIES,
            legend_title=MAP_TITLES["gistar"],
        )
    if police:
        return maps.build_hex_map(
            table,
            tooltip_cols={"where": "Where", **aggregate.BREAKDOWN_LABELS} if not table.empty else (),
            places=_top_places(reports, places, filters, policy),
            legend_title=MAP_TITLES["count"],
        )
    # The classes of the partner PNG and PDF, made from the counts as shared.
    return maps.shared_count_map(
        table[["h3", "count", "where", "common_place_types", "common_concerns"]],
        policy.k,
        tooltip_cols={
            "where": "Where",
            "common_place_types": f"Place types with {policy.k}+ reports",
            "common_concerns": f"Concerns with {policy.k}+ reports",
        },
        legend_title=MAP_TITLES["count"],
    )


def _static_hexes(reports, used: int, filters, map_type: str) -> pd.DataFrame:
    """The frame render_map classes itself (it discloses counts for the policy, with their cell keys)."""
    from hoth_geo.access import privacy
    from hoth_geo.analysis import temporal
    from hoth_geo.analysis.hotspots import hotspots

    if map_type == "count":
        return privacy.hex_counts(reports, used, filters)
    if map_type == "gistar":
        return hotspots(reports, used, filters).table[["h3", "class"]]
    return temporal.emerging_hotspots(reports, used, filters=filters).table[["h3", "category"]]


def prepare_export(
    reports: pd.DataFrame,
    places: pd.DataFrame | None,
    *,
    kind: str,
    policy,
    res: int,
    filters,
    map_type: str = "count",
    crs: str = "EPSG:4326",
    demo: bool = False,
    png_size: tuple[int, int] = (1920, 1080),
) -> PreparedExport:
    """The bytes of one export for ``policy``'s audience; nothing is written or recorded (see ``record``).

    Raises ValueError for an invalid choice (naming the argument and the value) and for a selection
    that cannot give the export (e.g. too few reports for a hotspot map: ``hotspots.TooFewReports``,
    whose count is disclosed for partners and the public), NotAllowed for a filter the audience may
    not use (``privacy.partner_filters``).
    """
    from hoth_geo.access.privacy import SharingPolicy
    from hoth_geo.analysis.hotspots import TooFewReports

    if not isinstance(policy, SharingPolicy):
        raise ValueError(
            f"policy must be a SharingPolicy (see privacy.policy_for), got {type(policy).__name__}"
        )
    try:
        return _prepare_export(
            reports,
            places,
            kind=kind,
            policy=policy,
            res=res,
            filters=filters,
            map_type=map_type,
            crs=crs,
            demo=demo,
            png_size=png_size,
        )
    except TooFewReports as exc:
        raise disclosed_too_few(exc, reports, filters, policy) from None


def _prepare_export(
    reports, places, *, kind, policy, res, filters, map_type, crs, demo, png_size
) -> PreparedExport:
    from hoth_geo.access.privacy import SharingPolicy, check_resolution, partner_filters, resolution_note
    from hoth_geo.deliver import briefing, exports, maps, static_maps
    from hoth_geo.intake.area import gazetteer_in_use

    check_choice(kind, "kind", KINDS)
    check_choice(map_type, "map_type", MAP_TYPES)
    check_choice(crs, "crs", exports.CRS_OPTIONS)
    if not isinstance(policy, SharingPolicy):
        raise ValueError(
            f"policy must be a SharingPolicy (see privacy.policy_for), got {type(policy).__name__}"
        )
    if kind == "geojson" and crs != "EPSG:4326":
        raise ValueError(f"crs={crs!r} is not possible for GeoJSON, which is always EPSG:4326 (RFC 7946)")
    filters = partner_filters(filters, policy)
    used = check_resolution(res, policy)
    note = resolution_note(res, policy)
    suffix = KINDS[kind][0].lstrip(".")
    details: dict = {"res": used, "res_requested": int(res), "fmt": suffix}
    if filters is not None:
        # What the audience's file really holds (whole months for partners), next to what was asked.
        details["filters_used"] = exports.filters_to_dict(filters)
    if kind in MAP_KINDS:
        details["map"] = map_type
        if kind == "map-html":
            m = interactive_map(reports, places, res=used, filters=filters, policy=policy, map_type=map_type)
            data = maps.standalone_html(m).encode("utf-8")
        else:
            subtitle = briefing.filters_text(filters, policy)
            if note:
                subtitle = f"{subtitle}  |  {note}"
            data = static_maps.render_map(
                _static_hexes(reports, used, filters, map_type),
                kind=map_type,
                policy=policy,
                title=MAP_TITLES[map_type],
                subtitle=subtitle,
                fmt=suffix,
                size_px=png_size,
                demo=demo,
            )
    elif kind == "briefing":
        if places is None:
            raise ValueError("places must be the pipeline.all_places frame for a briefing pack, got None")
        from hoth_geo.intake.area import area_name

        data = briefing.briefing_pack(
            reports, places, filters=filters, policy=policy, res=int(res), demo=demo, area_label=area_name()
        )
    elif kind == "gpkg":
        if places is None:
            raise ValueError("places must be the pipeline.all_places frame for a GeoPackage, got None")
        details["crs"] = crs
        data = exports.export_layers(
            reports, places, int(res), filters, policy, crs=crs, gazetteer=gazetteer_in_use()
        )
    else:
        details["crs"] = crs
        data = exports.export_hexes(
            reports, int(res), filters, policy, fmt=suffix, crs=crs, gazetteer=gazetteer_in_use()
        )
    return PreparedExport(
        data=data,
        kind=kind,
        log_kind=_LOG_KINDS[kind],
        suffix=suffix,
        filename=suggested_filename(kind, policy),
        audience=policy.audience,
        marking=policy.marking,
        res=used,
        res_requested=int(res),
        note=note,
        details=details,
    )


def record(
    engine, prepared: PreparedExport, *, policy, filters, exported_by: str | None, filename=None
) -> int:
    """Record ``prepared`` in the export log (SHA-256 of its bytes, filters, resolution, format); sets
    and returns ``prepared.export_id``."""
    from hoth_geo.deliver.exports import filters_to_dict, record_export

    prepared.export_id = record_export(
        engine,
        prepared.data,
        policy=policy,
        kind=prepared.log_kind,
        filters={**filters_to_dict(filters), **prepared.details, "export": prepared.kind},
        filename=filename or prepared.filename,
        exported_by=exported_by,
    )
    return prepared.export_id


_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def pdf_page_count(data: bytes) -> int:
    """Pages in a PDF made by hoth-geo (matplotlib writes each page object uncompressed)."""
    return len(_PAGE_OBJECT.findall(data))
