"""Another partnership's area inputs, built from the shared open data (tests/intake/test_area.py,
test_area_gazetteer.py and tests/cli/test_area.py use them)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd

DARLINGTON = "E06000005"
DURHAM = "E06000047"


def build_area_inputs(d: Path, shared_data: Path) -> dict[str, Path]:
    """Official-format inputs built from the shared open data in folder ``d``, as a partnership would
    download them: a Code-Point Open zip in OS's layout, Darlington's LSOAs as a GeoPackage and a zipped
    Shapefile (British National Grid), County Durham as GeoJSON, and Darlington's wards."""
    cp = shared_data / "codepoint_open"
    codepoint_zip = d / "codepo_gb.zip"
    with zipfile.ZipFile(codepoint_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("dh", "dl", "sr", "ts"):
            zf.write(cp / f"{name}.csv", f"Data/CSV/{name}.csv")
        zf.write(cp / "Code-Point_Open_Column_Headers.csv", "Doc/Code-Point_Open_Column_Headers.csv")
        zf.write(cp / "metadata.txt", "Doc/metadata.txt")
    lsoa = gpd.read_file(
        shared_data / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DARLINGTON}.json"
    )
    # Several polygons, in British National Grid: the area must be dissolved and reprojected.
    gpkg = d / "darlington_lsoa.gpkg"
    lsoa.to_crs("EPSG:27700").to_file(gpkg, driver="GPKG")
    shp_dir = d / "shp"
    shp_dir.mkdir()
    lsoa.to_crs("EPSG:27700").to_file(shp_dir / "darlington.shp")
    shp_zip = d / "darlington_shp.zip"
    with zipfile.ZipFile(shp_zip, "w") as zf:
        for p in shp_dir.iterdir():
            zf.write(p, p.name)
    durham = gpd.read_file(shared_data / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DURHAM}.json")
    durham_path = d / "county_durham.geojson"
    durham.to_file(durham_path, driver="GeoJSON")
    return {
        "codepoint": codepoint_zip,
        "gpkg": gpkg,
        "shp_zip": shp_zip,
        "durham": durham_path,
        "wards": shared_data / "boundaries_martinjc" / f"electoral_eng_wards_by_lad_{DARLINGTON}.json",
        "lsoa_json": shared_data / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DARLINGTON}.json",
    }
