"""The page script Streamlit runs for every session (``app.py`` wraps it with the app's routes)."""

from hoth_geo.ui.main import main

main()
