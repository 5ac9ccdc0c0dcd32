"""The engine: the DuckLake catalog attached to DuckDB, transactions, the read replica and contexts."""
