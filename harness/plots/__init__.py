"""Figures of a results store (matplotlib, Agg; PNG files), one module per figure.

Per engine + scenario (file names ``<engine>_<scenario id>_<kind>.png``):

* ``heatmap``  (:mod:`.heatmap`)  -- median warm wall (and speed-up) over fold level x
  stage level, one panel per model-level thread count, the better backend per cell;
  the d/d/d cell is the library default, ``auto`` a panel of its own;
* ``scaling``  (:mod:`.scaling`)  -- speed-up vs threads used per config, with the
  perfect-scaling line and the ideal bound ``serial / max(work / workers, span)``
  (serial: the engine's own serial wall for core; core's work for the package, whose
  fits do more work);
* ``pareto``   (:mod:`.pareto`)   -- CPU seconds vs wall seconds, the Pareto front highlighted;
* ``box``      (:mod:`.box`)      -- the raw warm samples per config, ranked;
* ``timeline`` (:mod:`.timeline`) -- one warm fit per config as a Gantt chart of its
  base-model fits on their workers (needs task traces: core engine only).

Across scenarios (per engine): ``across_<engine>_winners.png`` (:mod:`.across_winners`)
-- how the winning split (model / fold / stage) changes with each scenario factor --
and ``across_<engine>_speedup.png`` (:mod:`.across_speedup`) -- the winner's speed-up
per scenario beside the library default's and the ideal bound's. Engines side by
side: ``compare_engines.png`` (:mod:`.compare`, ``python -m harness compare --plot``).

``auto`` (metalearners_core picks every level) has its own colour in every figure,
"default" always means the library default, and no label is clipped or drawn over
another (a label without room is left out and counted). Every ``*_figure`` function
takes analysis objects (:mod:`harness.analysis`) and returns a
:class:`matplotlib.figure.Figure` (no pyplot, no global state), so the notebook can
reuse them; :func:`write_plots` saves them all (:mod:`.write`).
"""

from harness.plots._style import DPI, place_labels
from harness.plots.across_speedup import across_speedup_figure
from harness.plots.across_winners import across_winners_figure
from harness.plots.box import box_figure
from harness.plots.compare import compare_figure, plot_compare
from harness.plots.heatmap import heatmap_figure
from harness.plots.pareto import pareto_figure
from harness.plots.scaling import scaling_figure
from harness.plots.timeline import timeline_figure
from harness.plots.write import across_figures, plot_all, scenario_figures, write_plots

__all__ = [
    "DPI",
    "across_figures",
    "across_speedup_figure",
    "across_winners_figure",
    "box_figure",
    "compare_figure",
    "heatmap_figure",
    "pareto_figure",
    "place_labels",
    "plot_all",
    "plot_compare",
    "scaling_figure",
    "scenario_figures",
    "timeline_figure",
    "write_plots",
]
