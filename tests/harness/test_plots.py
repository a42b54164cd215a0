"""The figures: every kind is written, non-empty, from constructed data and from a real smoke store."""

from __future__ import annotations

import pandas as pd
import pytest

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
