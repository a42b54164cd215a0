"""harness tune: the search logic on deterministic synthetic objectives, the store and
lock plumbing, and one tiny end-to-end CLI run with real fits."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

from harness.config import ParallelConfig  # noqa: E402
from harness.trial import FitSample, TrialResult, TrialSpec  # noqa: E402
from harness.errors import LockBusy  # noqa: E402
from harness.locks import HostTrialLock, store_lock  # noqa: E402
from harness.runner import TrialRunner  # noqa: E402
from harness.tune import (  # noqa: E402
    PARAM,
    Measurement,
    baseline_configs,
    default_study_name,
    format_outcome,
    is_feasible,
    parse_objectives,
    search_space,
    sqlite_url,
    tune,
)

REPO = Path(__file__).resolve().parents[2]


class Synthetic:
    """A deterministic objective: wall, CPU and memory as functions of the config.

    Asserts that every config it is asked to measure is feasible and in the space.
    """

    def __init__(self, cores: int, space: list[ParallelConfig], fail: set[str] = frozenset(), slow: dict[str, float] | None = None):
        self.cores, self.space, self.fail, self.slow = cores, set(space), set(fail), slow or {}
        self.calls: list[str] = []

    def wall(self, c: ParallelConfig) -> float:
        threads = c.total_threads(self.cores)
        return (10.0 / threads + 0.3 * c.pool_workers + (0.2 if c.backend == "threading" else 0.0) + 0.05 * c.is_default + 0.04 * c.is_auto) * self.slow.get(c.id, 1.0)

    def __call__(self, c: ParallelConfig) -> Measurement:
        assert c in self.space, c.id
        assert is_feasible(c, self.cores), c.id
        self.calls.append(c.id)
        if c.id in self.fail:
            return Measurement(ok=False, reason="crashed: signal SIGSEGV")
        threads = c.total_threads(self.cores)
        return Measurement(walls=[self.wall(c)], cpu=[10.0 + 0.5 * threads], mem=[100.0 * c.pool_workers], rmse=[0.1])


def run(measure, space, cores, **kw):
    kw.setdefault("study_name", "s")
    kw.setdefault("n_trials", 50)
    kw.setdefault("repeats", 1)
    kw.setdefault("baselines", baseline_configs(cores))
    kw.setdefault("log", None)
    return tune(measure, space, **kw)


def configs_of(study) -> list[str]:
    return [t.params[PARAM] for t in study.trials]


def test_exhaustive_sampler_covers_a_tiny_space_once():
    cores = 2
    space = search_space(cores, [1, 2])
    measure = Synthetic(cores, space)
    out = run(measure, space, cores, n_trials=20, repeats=2, prune_ratio=None)  # serial is 2x slower than auto
    ids = configs_of(out.study)
    assert sorted(ids) == sorted(c.id for c in space)  # every feasible config, no duplicates
    assert Counter(measure.calls) == {c.id: 2 for c in space}  # repeats each, nothing else
    assert out.exhausted and out.new_trials == len(space)
    assert all(t.state == TrialState.COMPLETE for t in out.study.trials)
    # the best is the true optimum of the synthetic objective
    assert out.best[0][0] == min(space, key=measure.wall).id


class Noisy(Synthetic):
    """Synthetic walls with 2 values per trial and 1% noise, seeded."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.rng = np.random.default_rng(0)

    def __call__(self, c: ParallelConfig) -> Measurement:
        m = super().__call__(c)
        walls = list(m.walls[0] * np.exp(self.rng.normal(0, 0.01, 2)))
        return Measurement(walls=walls, cpu=m.cpu * 2, mem=m.mem * 2, rmse=m.rmse * 2)


def test_ties_with_the_best_are_the_rules():
    cores = 2
    space = search_space(cores, [1, 2])
    best = min(space, key=Synthetic(cores, space).wall)
    twin = next(c for c in space if c != best)
    # the twin is 1% slower than the best (tied: under the 3% threshold); the others far slower
    measure = Noisy(cores, space, slow={c.id: (1.01 * Synthetic(cores, space).wall(best) / Synthetic(cores, space).wall(c)
                                               if c == twin else 1.5) for c in space if c != best})
    out = run(measure, space, cores, n_trials=20, repeats=3, prune_ratio=None)
    assert out.best[0][0] == best.id
    assert set(out.tied) == {twin.id}
    assert out.study.trials[out.best[0][2]].user_attrs["trial_walls_s"][0].__len__() == 2  # kept per trial
    assert f"tied with the best (THE rule, min effect 3%): {twin.id}" in format_outcome(out)
    strict = run(measure, space, cores, study_name="strict", n_trials=20, repeats=3, prune_ratio=None, min_effect=0.0)
    assert set(strict.tied) <= {twin.id}  # a 1% difference may now be significant; the far ones never tie


def test_baselines_run_first_with_either_sampler():
    for cores, n_trials in ((2, 20), (8, 6)):  # brute force, then TPE (space of 8 cores >> 6)
        space = search_space(cores)
        measure = Synthetic(cores, space)
        out = run(measure, space, cores, n_trials=n_trials)
        expected = ["auto", "m1-f1-s1-loky", f"m{cores}-f1-s1-loky", "default"]
        assert configs_of(out.study)[:4] == expected
        assert all(t.user_attrs.get("baseline") for t in out.study.trials[:4])
        assert not any(t.user_attrs.get("baseline") for t in out.study.trials[4:])
        assert len(out.study.trials) == min(n_trials, len(space))


def test_baselines_past_the_budget_wait_for_the_next_run(tmp_path):
    cores = 8
    storage = sqlite_url(tmp_path / "h.db")
    space = search_space(cores)
    measure = Synthetic(cores, space)
    first = run(measure, space, cores, storage=storage, n_trials=2)
    assert measure.calls == ["auto", "m1-f1-s1-loky"]
    assert first.n_trials == 2 and first.waiting == 2
    assert "2 enqueued baseline(s) left for the next run" in format_outcome(first)
    second = run(measure, space, cores, storage=storage, n_trials=2)
    assert measure.calls[2:] == ["m8-f1-s1-loky", "default"] and second.waiting == 0


def test_tpe_never_measures_a_config_twice_and_stays_in_the_space():
    cores = 8
    space = search_space(cores, max_oversubscription=1.0)
    assert len(space) > 30
    measure = Synthetic(cores, space)
    out = run(measure, space, cores, n_trials=25, seed=3)
    ids = configs_of(out.study)
    assert len(ids) == 25 == len(set(ids))
    choices = set(out.study.trials[-1].distributions[PARAM].choices)
    assert choices == {c.id for c in space}  # only feasible configs can be suggested


def test_infeasible_configs_are_never_sampled():
    cores = 4
    space = search_space(cores, [1, 2, 4], max_oversubscription=1.0)
    grid_all = {ParallelConfig(m, f, s, b) for m in (1, 2, 4) for f in (1, 2, 4) for s in (1, 2, 4) for b in ("loky", "threading")}
    infeasible = {c.id for c in grid_all if c.total_threads(cores) > cores}
    assert infeasible and not infeasible & {c.id for c in space}
    measure = Synthetic(cores, space)  # asserts feasibility on every call
    run(measure, space, cores, n_trials=len(space) + 5)  # exhaustive
    run(measure, space, cores, study_name="tpe", n_trials=8, seed=1)  # TPE
    assert not infeasible & set(measure.calls)


def test_resuming_a_study_by_name_continues_it(tmp_path):
    cores = 8
    storage = sqlite_url(tmp_path / "h.db")
    space = search_space(cores)
    measure = Synthetic(cores, space)
    first = run(measure, space, cores, storage=storage, n_trials=4, seed=0)
    before = [(t.number, t.params[PARAM], t.values) for t in first.study.trials]
    second = run(measure, space, cores, storage=storage, n_trials=4, seed=0)
    after = [(t.number, t.params[PARAM], t.values) for t in second.study.trials]
    assert len(after) == 8 and after[:4] == before  # grew, earlier trials kept
    assert len({cid for _, cid, _ in after}) == 8  # the resumed run measured new configs only
    assert [cid for _, cid, _ in after].count("default") == 1  # baselines not enqueued again
    assert second.new_trials == 4 and second.n_trials == 8


def test_resuming_with_another_space_or_objectives_is_refused(tmp_path):
    storage = sqlite_url(tmp_path / "h.db")
    space = search_space(2, [1, 2])
    run(Synthetic(2, space), space, 2, storage=storage, n_trials=2)
    other = search_space(2, [1, 2], backends=("loky",))
    with pytest.raises(ValueError, match="another search space"):
        run(Synthetic(2, other), other, 2, storage=storage, n_trials=2)
    with pytest.raises(ValueError, match="optimises wall"):
        run(Synthetic(2, space), space, 2, storage=storage, n_trials=2, objectives=("wall", "cpu"))


def test_multi_objective_gives_the_pareto_front():
    cores = 4
    space = search_space(cores, [1, 2, 4])
    measure = Synthetic(cores, space)
    out = run(measure, space, cores, objectives=("wall", "cpu"), n_trials=len(space), repeats=2)
    assert len(out.study.directions) == 2
    points = {c.id: (measure.wall(c), 10.0 + 0.5 * c.total_threads(cores)) for c in space}

    def dominated(p):
        return any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points.values())

    front = {cid for cid, p in points.items() if not dominated(p)}
    assert {cid for cid, _, _ in out.best} == front
    assert len(front) > 1  # a real trade-off: serial is cheapest in CPU, not fastest
    assert "Pareto front" in format_outcome(out)
    assert all(t.state != TrialState.PRUNED for t in out.study.trials)  # never pruned


def test_a_failed_measurement_is_a_failed_trial_and_the_study_goes_on():
    cores = 2
    space = search_space(cores, [1, 2])
    measure = Synthetic(cores, space, fail={"m1-f2-s1-loky"})
    out = run(measure, space, cores, n_trials=20, repeats=3, prune_ratio=None)
    by_config = {t.params[PARAM]: t for t in out.study.trials}
    bad = by_config["m1-f2-s1-loky"]
    assert bad.state == TrialState.FAIL and bad.user_attrs["reason"] == "crashed: signal SIGSEGV"
    assert measure.calls.count("m1-f2-s1-loky") == 1  # no further repeats of a failure
    assert len(by_config) == len(space)  # the study went on to every other config
    assert out.counts == {"complete": len(space) - 1, "pruned": 0, "fail": 1}


def test_pruning_stops_a_clearly_slower_config_after_one_repeat():
    cores = 2
    space = search_space(cores, [1, 2], backends=("loky",))
    # serial (a baseline) is fastest: everything else is 1.2x (kept) or 3x (pruned) slower
    base = Synthetic(cores, space).wall(ParallelConfig(1, 1, 1, "loky"))
    measure = Synthetic(cores, space)
    measure.wall = lambda c: base * {"m1-f1-s1-loky": 1.0, "m1-f2-s1-loky": 3.0}.get(c.id, 1.2)
    out = run(measure, space, cores, n_trials=20, repeats=3)
    by_config = {t.params[PARAM]: t for t in out.study.trials}
    assert by_config["m1-f2-s1-loky"].state == TrialState.PRUNED
    assert "after 1 repeat" in by_config["m1-f2-s1-loky"].user_attrs["pruned"]
    assert measure.calls.count("m1-f2-s1-loky") == 1
    kept = [cid for cid in by_config if cid not in ("m1-f2-s1-loky",)]
    assert all(by_config[c].state == TrialState.COMPLETE and measure.calls.count(c) == 3 for c in kept)
    # with pruning off, it runs all its repeats
    measure.calls.clear()
    run(measure, space, cores, study_name="noprune", n_trials=20, repeats=3, prune_ratio=None)
    assert measure.calls.count("m1-f2-s1-loky") == 3


def test_objectives_and_study_names():
    assert parse_objectives("wall") == ("wall",)
    assert parse_objectives("wall, memory") == ("wall", "memory")
    with pytest.raises(ValueError, match="not allowed"):
        parse_objectives("cpu")
    assert default_study_name("core", "X") == "tune:core:X"
    assert default_study_name("core", "X", ("wall", "cpu")) == "tune:core:X:wall,cpu"


def test_search_space_holds_the_baselines_and_only_feasible_configs():
    space = search_space(4, [1, 2])  # the all-cores model level (4) is not in the levels
    ids = {c.id for c in space}
    assert {"m1-f1-s1-loky", "m4-f1-s1-loky", "default", "auto"} <= ids
    assert all(is_feasible(c, 4) for c in space)
    # the metalearners package has no ``auto``: its baselines stop at its default
    assert [c.id for c in baseline_configs(4, engine="metalearners")] == ["m1-f1-s1-loky", "m4-f1-s1-loky", "default"]


def test_db_lock_refuses_a_second_measuring_process(tmp_path):
    db = tmp_path / "h.db"
    with store_lock(db) as held:
        assert held and "pid" in Path(f"{db}.lock").read_text()
        with pytest.raises(LockBusy, match="allow-concurrent"):
            with store_lock(db):
                pass
        warnings = []
        with store_lock(db, allow_concurrent=True, warn=warnings.append) as second:
            assert not second
        assert "corrupted" in warnings[0]
    with store_lock(db) as held:  # released
        assert held


# -- the store and the study in one SQLite file ---------------------------------------------


def _fake_result(config: ParallelConfig, wall: float, ok: bool = True) -> TrialResult:
    spec = TrialSpec("scenario", {"config": config.to_dict()}, repeats=2, timeout_s=60)
    samples = [
        FitSample(i, kind, wall, wall, 0.5, 100.0, 90.0, "rss", 3, float(i), float(i) + wall, {"cate_rmse": 0.1})
        for i, kind in ((0, "cold"), (1, "warm"))
    ]
    return TrialResult(
        spec=spec, status="ok" if ok else "failed", reason=None if ok else "timeout after 60s",
        samples=samples if ok else [], pid=1, hostname="h", n_cores=2, exit_code=0 if ok else -9,
        wall_s=2 * wall + 1, prepare_s=0.1, trial_cpu_s=2 * wall, worker_cpu_s=2 * wall, mem_measure="rss",
    )


def test_tune_records_into_the_store_beside_the_optuna_tables(tmp_path, monkeypatch):
    import sqlite3

    from harness.store import Store, load_fits
    from scenarios import Scenario

    db = tmp_path / "h.db"
    scenario = Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=5)
    cores = 2
    space = search_space(cores, [1, 2], backends=("loky",))
    walls = Synthetic(cores, space)
    monkeypatch.setattr(
        "harness.trial.run_trial",
        lambda spec: _fake_result(ParallelConfig.from_dict(spec.params["config"]), walls.wall(ParallelConfig.from_dict(spec.params["config"])), ok=spec.params["config"] != ParallelConfig(1, 2, 1).to_dict()),
    )
    with Store(db) as store:
        run_id = store.start_run({"hostname": "h"}, "tune", None)
        measure = TrialRunner("core", scenario, store, run_id, timeout_s=60, lock=HostTrialLock(enabled=False))
        out = run(measure, space, cores, storage=sqlite_url(db), n_trials=20, repeats=2, study_name="tune:core:x", prune_ratio=None)
        store.finish_run(run_id, {"hostname": "h"})
    fits = load_fits(db)
    assert set(fits["run_id"]) == {run_id}
    # repeats numbered per config; the failed config's only trial is recorded failed
    per_config = fits.drop_duplicates("trial_id").groupby("config_id")["repeat"].apply(sorted).to_dict()
    assert per_config["m1-f2-s1-loky"] == [0]
    assert all(v == [0, 1] for k, v in per_config.items() if k != "m1-f2-s1-loky")
    assert (fits.loc[fits["config_id"] == "m1-f2-s1-loky", "status"] == "failed").all()
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"studies", "trials", "harness_trials", "harness_fits"} <= tables
    loaded = optuna.load_study(study_name="tune:core:x", storage=sqlite_url(db))
    assert len(loaded.trials) == len(out.study.trials) == len(space)


# -- end to end: real fits, the CLI ---------------------------------------------------------

TINY = "learner=DR,n_rows=2000,n_features=5,n_folds=2,base_model=lightgbm_small"


def test_cli_tune_end_to_end(tmp_path):
    db = tmp_path / "h.db"
    cmd = [sys.executable, "-m", "harness", "tune", "--scenario", TINY, "--trials", "4", "--repeats", "1",
           "--levels", "1,2", "--backends", "loky", "--db", str(db)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.count("] trial ") == 4 and "best: " in out and "optuna-dashboard" in out
    from harness.config import grid_note
    from harness.measure import available_cores
    from harness.store import load_fits, load_runs

    note = grid_note(available_cores(), [1, 2], ("loky",))  # on 2 cores: 4 splits ask for more threads
    assert note is None or out.count(f"tune: {note}\n") == 1, out

    fits = load_fits(db)
    assert len(fits.drop_duplicates("trial_id")) == 4 and (fits["status"] == "ok").all()
    assert list(load_runs(db)["command"]) == ["tune"]
    (name,) = optuna.get_all_study_names(storage=sqlite_url(db))
    assert name.startswith("tune:core:DR-2k-")
    # baselines first; resuming by name continues the same study
    study = optuna.load_study(study_name=name, storage=sqlite_url(db))
    assert [t.params[PARAM] for t in study.trials] == ["auto", "m1-f1-s1-loky", "m2-f1-s1-loky", "default"]



def test_cli_tune_refuses_while_another_process_measures(tmp_path, capsys):
    from harness.cli import main

    db = tmp_path / "h.db"
    with store_lock(db):  # another measuring process holds the lock: one line, exit 2, nothing measured
        rc = main(["tune", "--scenario", TINY, "--trials", "3", "--db", str(db)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "allow-concurrent" in err
    assert not db.exists()


def test_a_trial_left_running_by_a_dead_process_is_failed_and_measured_again(tmp_path):
    storage = sqlite_url(tmp_path / "h.db")
    space = search_space(2, [1, 2])
    run(Synthetic(2, space), space, 2, storage=storage, n_trials=1)
    study = optuna.load_study(study_name="s", storage=storage)
    stale = study.ask()  # as if a tune process died in the middle of this trial
    stale.suggest_categorical(PARAM, [c.id for c in space])
    out = run(Synthetic(2, space), space, 2, storage=storage, n_trials=20, fail_stale=True)
    t = out.study.trials[stale.number]
    assert t.state == TrialState.FAIL and t.user_attrs["reason"].startswith("interrupted")
    (retry,) = [x for x in out.study.trials if x.user_attrs.get("retry_of") is not None]  # queued again
    assert retry.params == t.params and retry.state == TrialState.COMPLETE
    assert retry.user_attrs["retry_of"] == stale.number
    complete = [x.params[PARAM] for x in out.study.trials if x.state == TrialState.COMPLETE]
    assert sorted(complete) == sorted(c.id for c in space) and out.exhausted


def test_whatif_seeds_are_measured_first_then_the_baselines():
    cores = 4
    space = search_space(cores)
    seeds = [c for c in space if c.id in ("m1-f2-s2-threading", "m2-f2-s1-loky")]
    measure = Synthetic(cores, space)
    out = run(measure, space, cores, n_trials=4, seeds=seeds)
    assert measure.calls[:2] == [c.id for c in seeds]
    assert measure.calls[2] == baseline_configs(cores)[0].id
    assert [t.user_attrs.get("seeded_by") for t in out.study.trials[:2]] == ["whatif", "whatif"]
