"""The figures: every kind is written, non-empty, from constructed data and from a real smoke store."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.text import Text

from harness.analysis.pareto import pareto_front
from harness.analysis.summary import analyse
from harness.config import ParallelConfig
from harness.plots import plot_all, write_plots
from tests.harness.test_report import BROKEN, FAST, SERIAL, SLOW, failed_row, fit_rows, task_rows

KINDS = ("heatmap", "scaling", "pareto", "box", "timeline")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_pngs(paths, out_dir, scenario_ids):
    names = {p.name for p in paths}
    for sid in scenario_ids:
        for kind in KINDS:
            assert any(sid in n and n.endswith(f"_{kind}.png") for n in names), (sid, kind, sorted(names))
    assert any(n.startswith("across_core_winners") for n in names)
    assert any(n.startswith("across_core_speedup") for n in names)
    for p in paths:
        assert p.parent == out_dir
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, p


@pytest.fixture
def constructed() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two scenarios, one-factor apart, with serial traces; a metalearners engine without traces."""
    rows = []
    for sid, factor in (("DR-a", 1.0), ("DR-b", 2.0)):
        for config, walls in ((SERIAL, [10.0, 10.2, 9.8]), (FAST, [5.0, 5.2, 4.9]), (SLOW, [8.0, 8.1, 7.9]),
                              (ParallelConfig(), [6.0, 6.1, 5.9])):
            rows += fit_rows(config, [w * factor for w in walls], cpus=[w * factor * 1.1 for w in walls], scenario_id=sid)
    frame = pd.DataFrame(rows + [failed_row(BROKEN, 0)])  # + a scenario whose only trial failed
    frame.loc[frame["scenario_id"] == "DR-b", "n_rows"] = 4000
    meta = pd.DataFrame(fit_rows(SERIAL, [12.0] * 3, engine="metalearners") + fit_rows(FAST, [7.0] * 3, engine="metalearners"))
    fits = pd.concat([frame, meta], ignore_index=True)
    tasks = []
    for trial_id, config_id, sid in fits[(fits["engine"] == "core")][["trial_id", "config_id", "scenario_id"]].drop_duplicates().itertuples(index=False):
        for r in task_rows(trial_id, config_id=config_id):
            tasks.append({**r, "scenario_id": sid})
    return fits, pd.DataFrame(tasks)


def test_every_kind_is_written_from_constructed_data(constructed, tmp_path):
    fits, tasks = constructed
    paths = plot_all(fits, tasks, tmp_path, analyses=analyse(fits, tasks))
    assert_pngs(paths, tmp_path, ["DR-a", "DR-b"])
    names = {p.name for p in paths}
    # the metalearners engine has no traces: every figure but the timeline
    assert not any(n.startswith("metalearners") and n.endswith("_timeline.png") for n in names)
    assert any(n.startswith("metalearners") and n.endswith("_scaling.png") for n in names)
    assert len(paths) == len(set(paths))


def test_figures_without_a_serial_config_or_traces(tmp_path):
    fits = pd.DataFrame(fit_rows(FAST, [5.0] * 3) + fit_rows(SLOW, [8.0] * 3))
    paths = plot_all(fits, pd.DataFrame(), tmp_path)
    assert {p.name.rsplit("_", 1)[1] for p in paths} >= {"heatmap.png", "scaling.png", "pareto.png", "box.png"}
    assert all(p.stat().st_size > 0 for p in paths)


def test_pareto_front():
    table = pd.DataFrame(
        {"config_id": list("abcde"), "wall_median": [1.0, 2.0, 3.0, 2.5, 1.0], "cpu_median": [5.0, 3.0, 1.0, 4.0, 6.0]}
    )
    assert list(pareto_front(table)["config_id"]) == ["a", "b", "c"]


def test_write_plots_on_the_smoke_db(smoke_db, tmp_path):
    from harness.store import load_fits

    out = tmp_path / "plots"
    paths = write_plots(smoke_db, out)
    scenario_ids = load_fits(smoke_db)["scenario_id"].unique()
    assert_pngs(paths, out, scenario_ids)


# -- issue #22: what the figures say must not mislead ---------------------------------------------

AUTO, DEFAULT = ParallelConfig.auto(), ParallelConfig()


def _analysis(configs_walls, cpus=None):
    rows = []
    for i, (config, walls) in enumerate(configs_walls):
        rows += fit_rows(config, walls, cpus=None if cpus is None else [cpus[i]] * len(walls))
    return analyse(pd.DataFrame(rows))[0]


def _assert_inside(fig):
    """Every text drawn lies inside the figure (nothing clipped at its edges): the
    figure's tight bbox (tick labels in view included) and each text artist's extent."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches
    w, h = fig.get_size_inches()
    assert tight.x0 >= -0.01 and tight.y0 >= -0.01 and tight.x1 <= w + 0.01 and tight.y1 <= h + 0.01, (tight, w, h)
    box = fig.bbox
    texts = fig.findobj(lambda o: isinstance(o, Text) and o.get_text() and o.get_visible())
    for t in texts:
        if t in [lab for ax in fig.axes for lab in (*ax.get_xticklabels(), *ax.get_yticklabels())]:
            continue  # tick labels out of view exist but are not drawn: the tight bbox covers the drawn ones
        e = t.get_window_extent(renderer)
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1, t.get_text()


def test_heatmap_auto_has_its_own_cell_and_the_default_cell_holds_the_default():
    from harness.plots import heatmap_figure

    a = _analysis([(SERIAL, [10.0] * 3), (FAST, [5.0] * 3), (DEFAULT, [8.0] * 3), (AUTO, [4.0] * 3)])
    fig = heatmap_figure(a)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert "auto" in panels
    auto_texts = " ".join(t.get_text() for t in panels["auto"].texts)
    assert "auto" in auto_texts and "2.50x" in auto_texts and "4 s" in auto_texts  # auto's own figure
    d_panel = " ".join(t.get_text() for t in panels["model threads: n_jobs = d"].texts)
    assert "default" in d_panel and "1.25x" in d_panel and "8 s" in d_panel  # the library default's, not auto's
    assert "auto" not in d_panel and "2.50x" not in d_panel
    _assert_inside(fig)


def test_scaling_draws_auto_in_its_own_colour():
    from matplotlib.colors import to_hex

    from harness.plots import scaling_figure
    from harness.plots._style import AUTO_COLOR

    fig = scaling_figure(_analysis([(SERIAL, [10.0] * 3), (FAST, [5.0] * 3), (DEFAULT, [8.0] * 3), (AUTO, [4.0] * 3)]))
    handles = {t.get_text(): h for legend in fig.legends for h, t in zip(legend.legend_handles, legend.get_texts())}
    assert to_hex(handles["auto"].get_color()) == AUTO_COLOR
    assert to_hex(handles["serial"].get_color()) != AUTO_COLOR
    _assert_inside(fig)


def test_across_speedup_labels_are_readable_and_inside_the_figure():
    from harness.plots import across_speedup_figure

    long = ParallelConfig(1, 2, 1, "threading")
    a = _analysis([(SERIAL, [10.0] * 3), (long, [4.0] * 3), (DEFAULT, [100.0] * 3)])  # default 0.10x
    a.scenario_id = "DR-16k-f20-v2-k5-random_forest-bin-nonlin-conf-s1-abcdef"
    fig = across_speedup_figure([a])
    _assert_inside(fig)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = {t.get_text().strip(): t for t in ax.texts}
    assert "0.10x" in labels and any("m1-f2-s1-threading" in k for k in labels)
    # a white label lies inside its bar; a label that does not fit is dark, after the bar
    bars = [p.get_window_extent(renderer) for p in ax.patches]
    for t in ax.texts:
        e = t.get_window_extent(renderer)
        if t.get_color() == "white":
            assert any(b.x0 - 1 <= e.x0 and e.x1 <= b.x1 + 1 and b.y0 <= e.y0 and e.y1 <= b.y1 for b in bars), t.get_text()
    assert labels["0.10x"].get_color() == "black"
    e = [t.get_window_extent(renderer) for t in ax.texts]
    assert max(b.x1 for b in e) <= ax.get_window_extent(renderer).x1


def test_across_winners_title_is_inside_the_figure_when_auto_wins_few_scenarios():
    from harness.plots import across_winners_figure

    analyses = []
    for sid in ("DR-2k-f5-v2-k2-lightgbm_small-cont-lin-rand-s0-3d6426", "T-2k-f5-v3-k3-lightgbm_small-bin-nonlin-conf-s0-05c41f"):
        a = _analysis([(SERIAL, [1.0] * 3), (AUTO, [0.5] * 3)])
        a.scenario_id = sid
        analyses.append(a)
    fig = across_winners_figure(analyses)
    assert "auto: core's scheduler picks every level" in fig.get_suptitle()
    _assert_inside(fig)


def test_pareto_labels_do_not_overlap_in_a_crowded_corner():
    from harness.plots import pareto_figure

    configs = [SERIAL, FAST, DEFAULT, AUTO] + [
        ParallelConfig(m, f, s, b) for m in (1, 2) for f in (1, 2) for s in (1, 2) for b in ("loky", "threading")
        if (m, f, s) != (1, 1, 1) and not (b == "loky" and (m, f, s) == (1, 2, 1))
    ]
    walls = [10.0] + [5.0 + 0.01 * i for i in range(len(configs) - 1)]
    cpus = [10.0] + [6.0 + 0.013 * ((7 * i) % len(configs)) for i in range(len(configs) - 1)]
    a = _analysis([(c, [w] * 3) for c, w in zip(configs, walls)], cpus=cpus)
    fig = pareto_figure(a)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]  # the text, without its leader line
    assert boxes
    inside = ax.get_window_extent(renderer)
    for i, b in enumerate(boxes):
        assert inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1
        for o in boxes[i + 1:]:
            assert not b.overlaps(o), (ax.texts[i].get_text(), b, o)
    labelled = {t.get_text() for t in ax.texts}
    assert {"m1-f1-s1-loky", "default", "auto", a.fastest["config_id"]} <= labelled  # named ones always
    _assert_inside(fig)
