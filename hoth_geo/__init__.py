"""hoth-geo: contextual-safeguarding maps from partnership information-sharing reports.

The names below are what a notebook or script needs, in the order the data moves::

    import hoth_geo as hg

    engine = hg.connect("sqlite:///reports.sqlite")
    hg.import_file(engine, "sharing-form.xlsx")  # one import, one transaction; bad rows quarantined
    reports = hg.load_reports(engine)
    places = hg.all_places(engine)
    selection = hg.ReportFilter(concerns=("cse",))
    counts = hg.aggregate_hexes(reports, 8, selection)
    gistar = hg.hotspot_gistar(reports, 8, selection)  # hotspots.hotspots: a GiResult (.table, .warning)
    emerging = hg.emerging_hotspots(reports, 8, filters=selection)  # an EmergingResult (.table, .step)
    hg.standalone_html(hg.build_hex_map(counts))
    policy = hg.policy_for("partner")
    prepared = hg.prepare_export(reports, places, kind="csv", policy=policy, res=8, filters=selection)
    hg.record_export(engine, prepared, policy=policy, filters=selection, exported_by="analyst")

Each name is the function of the module that owns it (``hg.connect`` is ``hoth_geo.store.connect``);
the modules are imported on first use, so ``import hoth_geo`` stays light and importing one module
(the command line, the app) does not load the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> (module, name in that module).
_PUBLIC: dict[str, tuple[str, str]] = {
    # Storing and importing
    "connect": ("store", "connect"),
    "import_file": ("intake.pipeline", "import_file"),
    "load_demo_data": ("intake.pipeline", "load_demo_data"),
    "load_reports": ("store", "load_reports"),
    "load_context": ("store", "load_context"),
    "load_quarantine": ("store", "load_quarantine"),
    "all_places": ("intake.pipeline", "all_places"),
    "ImportSummary": ("store", "ImportSummary"),
    # Selecting and counting
    "ReportFilter": ("selection", "ReportFilter"),
    "aggregate_hexes": ("analysis.aggregate", "aggregate_hexes"),
    "monthly_counts": ("analysis.aggregate", "monthly_counts"),
    "place_ranking": ("analysis.places", "place_ranking"),
    "top_places": ("analysis.places", "top_places"),
    # Hexagon analysis
    # Not "hotspots": that is the submodule's name, and an attribute shared with a submodule is
    # replaced by the module as soon as anything imports hoth_geo.analysis.hotspots.
    "hotspot_gistar": ("analysis.hotspots", "hotspots"),
    "count_grid": ("analysis.hotspots", "count_grid"),
    "density": ("analysis.hotspots", "density"),
    "study_area_grid": ("analysis.hotspots", "study_area_grid"),
    "kernel_density": ("analysis.hotspots", "kernel_density"),
    "emerging_hotspots": ("analysis.temporal", "emerging_hotspots"),
    "period_change": ("analysis.temporal", "period_change"),
    # What the hexagon verbs return: the table plus the facts about the run, as documented fields.
    "GiResult": ("analysis.hotspots", "GiResult"),
    "DensityResult": ("analysis.hotspots", "DensityResult"),
    "EmergingResult": ("analysis.temporal", "EmergingResult"),
    "PeriodChange": ("analysis.temporal", "PeriodChange"),
    # Maps
    "build_hex_map": ("deliver.maps", "build_hex_map"),
    "standalone_html": ("deliver.maps", "standalone_html"),
    # Sharing and exports
    "policy_for": ("access.privacy", "policy_for"),
    "SharingPolicy": ("access.privacy", "SharingPolicy"),
    "prepare_export": ("deliver.export_prep", "prepare_export"),
    "PreparedExport": ("deliver.export_prep", "PreparedExport"),
    "record_export": ("deliver.export_prep", "record"),
    # Errors a caller may act on
    "HothGeoError": ("errors", "HothGeoError"),
    "InvalidInput": ("errors", "InvalidInput"),
    "ImportRefused": ("errors", "ImportRefused"),
    "DataConditionError": ("errors", "DataConditionError"),
    "TooFewReports": ("errors", "TooFewReports"),
    "NotAllowed": ("errors", "NotAllowed"),
}

# Written out (not derived from _PUBLIC) so linters and editors read it; test_public_api checks both agree.
__all__ = [
    "__version__",
    "connect",
    "import_file",
    "load_demo_data",
    "load_reports",
    "load_context",
    "load_quarantine",
    "all_places",
    "ImportSummary",
    "ReportFilter",
    "aggregate_hexes",
    "monthly_counts",
    "place_ranking",
    "top_places",
    "hotspot_gistar",
    "count_grid",
    "density",
    "study_area_grid",
    "kernel_density",
    "emerging_hotspots",
    "period_change",
    "GiResult",
    "DensityResult",
    "EmergingResult",
    "PeriodChange",
    "build_hex_map",
    "standalone_html",
    "policy_for",
    "SharingPolicy",
    "prepare_export",
    "PreparedExport",
    "record_export",
    "HothGeoError",
    "InvalidInput",
    "ImportRefused",
    "DataConditionError",
    "TooFewReports",
    "NotAllowed",
]


def __getattr__(name: str):
    # A submodule (hoth_geo.store) is found by the import system before this is asked, so only the
    # curated names land here; anything else is an AttributeError as usual.
    try:
        module, attr = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'hoth_geo' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"hoth_geo.{module}"), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:  # what type checkers and editors see
    from hoth_geo.access.privacy import SharingPolicy, policy_for
    from hoth_geo.analysis.aggregate import aggregate_hexes, monthly_counts
    from hoth_geo.analysis.hotspots import (
        DensityResult,
        GiResult,
        count_grid,
        density,
        kernel_density,
        study_area_grid,
    )
    from hoth_geo.analysis.hotspots import hotspots as hotspot_gistar
    from hoth_geo.analysis.places import place_ranking, top_places
    from hoth_geo.analysis.temporal import EmergingResult, PeriodChange, emerging_hotspots, period_change
    from hoth_geo.deliver.export_prep import PreparedExport, prepare_export
    from hoth_geo.deliver.export_prep import record as record_export
    from hoth_geo.deliver.maps import build_hex_map, standalone_html
    from hoth_geo.errors import (
        DataConditionError,
        HothGeoError,
        ImportRefused,
        InvalidInput,
        NotAllowed,
        TooFewReports,
    )
    from hoth_geo.intake.pipeline import all_places, import_file, load_demo_data
    from hoth_geo.selection import ReportFilter
    from hoth_geo.store import ImportSummary, connect, load_context, load_quarantine, load_reports
