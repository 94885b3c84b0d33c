"""Planning use cases: ingest and sync."""
