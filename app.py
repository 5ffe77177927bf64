"""hoth-geo's web app: `hoth-geo app` (or `streamlit run app.py`).

The pages run from hoth_geo/ui/entry.py; around them this app adds its own routes (the local
basemap's tiles) and security headers, from hoth_geo/ui/web.py.
"""

import streamlit as st

from hoth_geo.ui import web

app = st.App("hoth_geo/ui/entry.py", routes=web.routes(), middleware=web.middleware())
