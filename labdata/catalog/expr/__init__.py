"""Queries as data: the expression tree, restriction predicates, the SQL compiler and the
in-process evaluator. Nothing here holds a connection; compiling needs only headings."""
