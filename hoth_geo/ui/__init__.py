"""The Streamlit layer: the only part of hoth-geo that imports streamlit. Pages only wire widgets to
library calls; all logic lives in the library modules."""
