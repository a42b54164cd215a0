"""Rendering: analysis objects in, text / Markdown out (tables, the report, recommend, compare).

Nothing here reads a store or computes a statistic; see :mod:`harness.analysis`.
"""
