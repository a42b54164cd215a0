"""The design of a set of scenarios: which factor each one varies around a centre scenario.

:func:`factor_groups` finds the centre (the scenario with the fewest differences to
the others) and groups the other scenarios by the one scenario field in which they
differ from it ("other" for those differing in several); :func:`scenario_diff` lists
the fields in which two scenarios differ. Pure functions on
:class:`~harness.analysis.summary.ScenarioAnalysis` objects; the across-scenario
figures draw what these return.
"""

from __future__ import annotations

from harness.analysis.summary import ScenarioAnalysis
from harness.store import SCENARIO_FIELDS

__all__ = ["factor_groups", "scenario_diff"]


def scenario_diff(x: ScenarioAnalysis, y: ScenarioAnalysis, fields: list[str] | None = None) -> list[str]:
    """The scenario fields (of ``fields``, default all) in which ``x`` and ``y`` differ."""
    return [f for f in (fields if fields is not None else SCENARIO_FIELDS) if x.scenario.get(f) != y.scenario.get(f)]


def factor_groups(analyses: list[ScenarioAnalysis]) -> tuple[ScenarioAnalysis, dict[str, list[ScenarioAnalysis]]]:
    """The centre scenario (fewest differences to the others) and, per field, the
    scenarios that differ from it only there; the rest under "other"."""
    fields = [f for f in SCENARIO_FIELDS if any(f in a.scenario for a in analyses)]
    centre = min(
        analyses, key=lambda c: (sum(len(scenario_diff(c, o, fields)) for o in analyses), analyses.index(c))
    )
    groups: dict[str, list[ScenarioAnalysis]] = {}
    for a in analyses:
        if a is centre:
            continue
        d = scenario_diff(a, centre, fields)
        groups.setdefault(d[0] if len(d) == 1 else "other", []).append(a)
    return centre, groups
