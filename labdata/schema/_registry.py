"""The registry of labdata's documented tables and its three schema-group decorators.

``@lab`` declares a lab-wide table (schema ``lab``), ``@data`` a table of a
project's data schema (``<project>``) and ``@computed`` a table of its computed
schema (``<project>_computed``).
"""

from __future__ import annotations

from labdata.catalog.declare.registry import TableRegistry

__all__ = ["computed", "data", "lab", "registry"]

registry = TableRegistry()
lab = registry.group("lab")
data = registry.group("data")
computed = registry.group("computed")
