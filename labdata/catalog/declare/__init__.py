"""Declarations: definition strings parsed into table schemas, attribute types, headings, the registry.

The lowest layer of the catalog: plain data about tables, no engine, no queries.
"""
