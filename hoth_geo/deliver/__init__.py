"""Outputs people act on: interactive maps (maps, basemap), static maps and the briefing pack,
data exports and their preparation, hexagons described in words (wayfinding).

Layer 5 of the data flow: imports the layers below; the interfaces (cli, ui) import it.
"""
