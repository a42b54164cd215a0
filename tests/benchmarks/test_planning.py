"""Planning a sweep against its store (run with `make bench`; once in `make test`).

A sweep plans every (engine, scenario, config, repeat) and keeps those the store does
not hold yet: :func:`harness.sweep.pending` reads the store once (one SELECT DISTINCT,
:meth:`Store.done`), so a resumed sweep of 10,000 trials over a store holding
thousands plans in a fraction of a second, not one query per planned trial.
"""

from __future__ import annotations

import sqlite3

import pytest

from harness.config import config_grid
from harness.store import Store
from harness.sweep import pending, plan_trials
from scenarios import Scenario

ENGINES = ("core", "metalearners")
# 40 scenarios x 25 configs x 2 engines x 5 repeats = 10,000 planned trials.
SCENARIOS = [
    Scenario(learner=learner, n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", seed=seed)
    for learner in ("T", "DR")
    for seed in range(20)
]
CONFIGS = [c for c in config_grid(16) if not c.is_auto][:25]
REPEATS = 5
N_PLANNED = 10_000
N_RECORDED = 3_000  # of the planned trials...
N_OTHER = 500  # ...plus trials of another plan, and a second record (a retry) of some


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    """A store holding the first N_RECORDED planned trials, rows written by direct SQL."""
    db = tmp_path_factory.mktemp("planning") / "results.db"
    plan = plan_trials(SCENARIOS, ENGINES, CONFIGS, REPEATS, seed=0)
    assert len(plan) == N_PLANNED
    elsewhere = [
        Scenario(learner="X", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", seed=seed)
        for seed in range(2)
    ]
    other = plan_trials(elsewhere, ENGINES, CONFIGS, REPEATS, seed=0)[:N_OTHER]
    rows = plan[:N_RECORDED] + other + plan[:N_OTHER]
    with Store(db) as s:
        run = s.start_run({}, "bench", None)
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO harness_trials (run_id, engine, scenario_id, learner, n_rows, n_features,"
            " n_variants, n_folds, base_model, outcome, effect, propensity, seed, scenario, config_id,"
            " backend, repeat, status, started_at, finished_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, 'ok', 't', 't')",
            [
                (run, t.engine, t.scenario.id, t.scenario.learner, t.scenario.n_rows, t.scenario.n_features,
                 t.scenario.n_variants, t.scenario.n_folds, t.scenario.base_model, t.scenario.outcome,
                 t.scenario.effect, t.scenario.propensity, t.scenario.seed, t.config.id, t.config.backend,
                 t.repeat)
                for t in rows
            ],
        )
    conn.close()
    with Store(db) as s:
        assert s.counts()["trials"] == N_RECORDED + 2 * N_OTHER
        yield s


def test_plan_10k_trials_against_the_store(benchmark, store):
    def plan() -> list:
        return pending(plan_trials(SCENARIOS, ENGINES, CONFIGS, REPEATS, seed=0), store)

    todo = benchmark(plan)
    assert len(todo) == N_PLANNED - N_RECORDED
    assert todo == plan_trials(SCENARIOS, ENGINES, CONFIGS, REPEATS, seed=0)[N_RECORDED:]
