"""Rendering: analysis objects in, text / Markdown / HTML out (tables, the report, its HTML page, recommend, compare).

Nothing here reads a store or computes a statistic; see :mod:`harness.analysis`.
"""
