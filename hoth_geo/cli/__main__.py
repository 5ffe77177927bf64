"""``python -m hoth_geo.cli``: the same command as ``hoth-geo``."""

from hoth_geo.cli import app

app()
