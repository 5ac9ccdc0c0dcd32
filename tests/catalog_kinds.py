"""Which catalog kinds a test of the ``lakes`` fixture (``lake``, ``context``, ``people``) runs on.

The fixture runs every test on a SQLite catalog and on PostgreSQL. A test of what labdata
does before and around the SQL it sends (validation, coercion, cascades computed from the
declarations, numerical code on fetched rows) learns nothing more from the second run, which
costs a PostgreSQL schema and its 88 tables (about 5 s); such tests are marked ``sqlite_only``.
Tests of concurrency, transactions, snapshots, the replica, strings and blobs in the catalog
database, and the engine keep both.
"""

import pytest

#: run on the SQLite catalog only (the same SQL and code paths on PostgreSQL)
sqlite_only = pytest.mark.parametrize("lakes", ["sqlite"], indirect=True)
