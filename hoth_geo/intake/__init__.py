"""Reports in: reading files (ingest, import_stream), the area and its gazetteer, geocoding, identity
and duplicates, the import pipeline, the sharing form (submission, guidance), Review, the demo data
and retention.

Layer 3 of the data flow: imports the foundation, the store and access; never analysis or delivery.
"""
