"""What users hold: :class:`~labdata.catalog.tables.query.Query` and the declared table tiers."""
