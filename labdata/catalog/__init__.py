"""The catalog: table declarations, the DuckLake engine, queries and writes."""

from labdata.catalog.context import Context, use
from labdata.catalog.engine import Lake
from labdata.catalog.restrict import AndList, Not
from labdata.catalog.table import Computed, Imported, Lookup, Manual, Part, Table

__all__ = ["AndList", "Computed", "Context", "Imported", "Lake", "Lookup", "Manual", "Not", "Part",
           "Table", "use"]
