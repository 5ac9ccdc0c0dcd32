"""The catalog: table declarations, the DuckLake engine, queries and writes.

Sub-packages, each importing only those below it (an import-linter contract):

========================  ==========================================================
``populate``              Imported and Computed tables, populate, the job table
``tables``                Query and the declared table tiers users hold
``ops``                   fetch, insert, delete, creating schemas
``engine`` / ``expr``     the DuckLake engine, transactions, replica, contexts /
                          the expression tree, predicates, SQL compiler, in-process evaluator
``declare``               definitions, attribute types, headings, the registry
========================  ==========================================================
"""

from labdata.catalog.engine.context import Context, use
from labdata.catalog.engine.lake import Lake
from labdata.catalog.expr.predicates import AndList, Not
from labdata.catalog.populate.autopopulate import Computed, Imported
from labdata.catalog.tables.table import Lookup, Manual, Part, Table

__all__ = ["AndList", "Computed", "Context", "Imported", "Lake", "Lookup", "Manual", "Not", "Part",
           "Table", "use"]
