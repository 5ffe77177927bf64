"""Tests of the command line, one module per hoth_geo.cli module (a package, so their names may match
the library modules other test folders mirror, e.g. test_area and test_basemap)."""
