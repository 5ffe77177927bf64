"""Streamlit entry point: `streamlit run app.py` (or `hoth-geo app`)."""

from hoth_geo.ui.main import main

main()
