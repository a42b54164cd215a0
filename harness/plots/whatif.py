"""The what-if figure: predicted warm wall against cores, per config, with the ideal bound.

One panel per (workload, engine) of :func:`harness.whatif.predict.predict_workload`'s
predictions: a line per config worth seeing (the predicted best on some core count,
the serial reference, the library default and ``auto``) over the core counts where
the config is in the grid, and the ideal bound as a dashed line, on log-log axes
(perfect strong scaling is a straight line). Titles and axes say "predicted".
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.plots._style import AUTO_COLOR, DEFAULT_COLOR, _figure

__all__ = ["plot_whatif"]

_FIXED = {"m1-f1-s1-loky": "black", "default": DEFAULT_COLOR, "auto": AUTO_COLOR}


def plot_whatif(preds: list, out: Path) -> Path:
    """Draw ``preds`` (:class:`harness.whatif.predict.Prediction`) into the PNG ``out``."""
    panels = list(dict.fromkeys((p.scenario_id, p.engine) for p in preds))
    ncols = min(2, len(panels)) or 1
    nrows = math.ceil(len(panels) / ncols) or 1
    fig = _figure(figsize=(6.5 * ncols, 4.2 * nrows))
    for n, (scenario_id, engine) in enumerate(panels, start=1):
        ax = fig.add_subplot(nrows, ncols, n)
        mine = [p for p in preds if (p.scenario_id, p.engine) == (scenario_id, engine)]
        cores = sorted({p.cores for p in mine})
        best = {min((p for p in mine if p.cores == c), key=lambda p: p.predicted_warm_s).config_id for c in cores}
        for config_id in [*dict.fromkeys(sorted(best)), *sorted(_FIXED.keys() - best)]:
            points = sorted((p.cores, p.predicted_warm_s) for p in mine if p.config_id == config_id)
            if not points:
                continue
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", lw=2 if config_id in best else 1, color=_FIXED.get(config_id),
                    label=config_id + (" (predicted best)" if config_id in best else ""))
        bound = sorted({(p.cores, p.bound_s) for p in mine})
        ax.plot(*zip(*bound), ls="--", color="grey", label="ideal bound")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(cores, [str(c) for c in cores])
        ax.set_xlabel("cores")
        ax.set_ylabel("predicted warm wall (s)")
        ax.set_title(f"PREDICTED: {engine} | {scenario_id}", fontsize=9)
        ax.legend(fontsize=7)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
