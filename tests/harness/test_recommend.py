"""harness recommend: the decision on synthetic samples, the bootstrap interval, the
interleaved re-measurement (with a fake measure), the refusal without data, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from harness.config import ParallelConfig
from harness.analysis.decision import decide, leaders, simplicity_key
from harness.analysis.stats import ratio_ci
from harness.errors import NoData
from harness.recommend import recommend
from harness.render.recommend import render_text
from harness.render.snippet import snippet
from harness.trial import FitSample, TrialResult, TrialSpec
from scenarios import Scenario

CORES = 4
SCENARIO = Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=5)


def samples(walls_by_config: dict[str, list]) -> pd.DataFrame:
    """Rows of warm fits: config_id, its levels and backend, trial_id, wall_s; each item
    of a config's list is one trial (a number: one warm value; a list: several)."""
    rows = []
    for cid, walls in walls_by_config.items():
        c = ParallelConfig() if cid == "default" else _parse_id(cid)
        for t, trial in enumerate(walls):
            for w in [trial] if np.isscalar(trial) else trial:
                rows.append({"config_id": cid, **{k: (np.nan if v is None else v) for k, v in c.to_dict().items()},
                             "trial_id": f"{cid}-{t}", "cold": False, "status": "ok", "wall_s": w})
    return pd.DataFrame(rows)


def store_with(db, scenario: Scenario, walls: dict[ParallelConfig, list], engines=("core",)):
    """A real store holding one sweep run: per config and engine one trial per item of
    ``walls`` (a list of warm walls; the cold fit is 1.5 x the first)."""
    from harness.store import Store

    with Store(db) as store:
        run = store.start_run({"hostname": "h"}, "sweep", "test")
        for engine in engines:
            for config, trials in walls.items():
                for repeat, trial in enumerate(trials):
                    store.record_trial(run, engine, scenario, config, repeat, fake_result(config, trial, cores=2))
        store.finish_run(run, {"hostname": "h"})
    return db


def _parse_id(cid: str) -> ParallelConfig:
    m, f, s, backend = cid.split("-")
    level = lambda x: None if x[1:] == "d" else int(x[1:])  # noqa: E731
    return ParallelConfig(level(m), level(f), level(s), backend)


def noisy(median: float, n: int, seed: int, spread: float = 0.02) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(median * np.exp(rng.normal(0, spread, n)))


# -- the decision ------------------------------------------------------------------------


def test_prefers_the_simpler_of_two_tied_configs():
    # 4 threads is (just) fastest by median, 2 threads is statistically tied with it
    walls = noisy(1.0, 8, seed=1, spread=0.05)
    data = samples({"m2-f2-s1-loky": walls, "m1-f2-s1-loky": [w * 1.01 for w in walls[::-1]]})
    d = decide(data, CORES)
    assert d.fastest == "m2-f2-s1-loky"
    assert d.tied == ["m1-f2-s1-loky"]
    assert d.recommended == "m1-f2-s1-loky"
    assert d.table.set_index("config_id").loc["m1-f2-s1-loky", "verdict"] == "tied"


def test_picks_the_fastest_when_it_is_clearly_faster():
    data = samples({"m1-f1-s1-loky": noisy(4.0, 5, 1), "m1-f2-s2-loky": noisy(1.0, 5, 2), "m2-f2-s1-loky": noisy(1.5, 5, 3)})
    d = decide(data, CORES)
    assert d.recommended == d.fastest == "m1-f2-s2-loky"
    verdicts = d.table.set_index("config_id")["verdict"].to_dict()
    assert verdicts == {"m1-f2-s2-loky": "fastest", "m2-f2-s1-loky": "slower", "m1-f1-s1-loky": "slower"}
    assert (d.table.set_index("config_id")["p_value"].dropna() < 0.05).all()


def test_too_few_samples_are_not_a_tie():
    # one trial a side (however many values): the test cannot run, so serial is NOT recommended
    data = samples({"m1-f1-s1-loky": [[4.0, 4.1, 4.05]], "m2-f2-s1-loky": [[1.0, 1.1, 1.05]]})
    d = decide(data, CORES)
    assert d.recommended == "m2-f2-s1-loky"
    assert d.underpowered == ["m1-f1-s1-loky"]


def test_loky_before_threading_and_default_before_its_explicit_twin():
    walls = noisy(1.0, 6, seed=4, spread=0.05)
    d = decide(samples({"m1-f2-s2-threading": walls, "m1-f2-s2-loky": [w * 1.005 for w in walls[::-1]]}), CORES)
    assert d.fastest == "m1-f2-s2-threading" and d.recommended == "m1-f2-s2-loky"
    d = decide(samples({"m4-f1-s1-loky": walls, "default": [w * 1.005 for w in walls[::-1]]}), CORES)
    assert d.recommended == "default"


def test_simplicity_order():
    order = ["m1-f1-s1-loky", "m2-f1-s1-loky", "m1-f2-s1-loky", "m1-f2-s1-threading", "default", "m4-f1-s1-loky", "m2-f2-s1-loky"]
    configs = [ParallelConfig() if c == "default" else _parse_id(c) for c in order]
    ranked = sorted(configs, key=lambda c: simplicity_key(c, CORES))
    assert [c.id for c in ranked] == order
    # fewer threads first even if it uses more levels
    assert simplicity_key(_parse_id("m1-f2-s1-loky"), CORES) < simplicity_key(_parse_id("m4-f1-s1-loky"), CORES)


def test_leaders_are_the_top_k_by_median():
    data = samples({"m1-f1-s1-loky": [3.0, 3.0], "m1-f2-s1-loky": [1.0, 5.0, 1.1], "m2-f1-s1-loky": [2.0]})
    assert leaders(data, 2) == ["m1-f2-s1-loky", "m2-f1-s1-loky"]


# -- the interval ---------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_true_ratio():
    per_trial = lambda walls: [[w] for w in walls]  # noqa: E731 -- one value per trial
    base, cand = per_trial(noisy(3.0, 40, seed=10, spread=0.1)), per_trial(noisy(1.5, 40, seed=11, spread=0.1))
    ratio, lo, hi = ratio_ci(base, cand, seed=0)
    assert lo < 2.0 < hi and lo < ratio < hi
    assert hi - lo < 0.3  # informative, not [0, inf)
    assert ratio_ci(base, cand, seed=0) == (ratio, lo, hi)  # seeded: reproducible
    # coverage over independent synthetic data sets is near the nominal 95%
    hits = 0
    for k in range(40):
        _, lo, hi = ratio_ci(per_trial(noisy(3.0, 15, seed=100 + k, spread=0.1)),
                             per_trial(noisy(1.5, 15, seed=200 + k, spread=0.1)), n_boot=2000, seed=k)
        hits += lo <= 2.0 <= hi
    assert hits >= 34


# -- the snippet ----------------------------------------------------------------------------


def _run_snippet(text: str) -> object:
    """Executes a snippet as printed on small data; returns the fitted learner."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    w = rng.integers(0, 2, 400)
    y = X[:, 0] + w * X[:, 1] + rng.normal(size=400)
    namespace = {"X": X, "y": y, "w": w}
    exec(compile(text, "<snippet>", "exec"), namespace)  # noqa: S102 -- the point: it runs as printed
    return namespace["learner"]


def test_snippet_for_an_explicit_config_runs_as_printed():
    text = snippet(ParallelConfig(1, 2, 1, "loky"), SCENARIO)
    assert "..." not in text and "from metalearners_core import DRLearner" in text
    assert 'with joblib.parallel_config(backend="loky"):\n    learner.fit(X, y, w, n_jobs_cross_fitting=2, n_jobs_base_learners=1)' in text
    learner = _run_snippet(text)
    assert text.count("'n_jobs': 1") == 3  # nuisance, propensity and treatment params
    assert {r.model_n_jobs for r in learner.fit_trace_} == {1}  # and every base model ran with it
    assert {r.model_kind for r in learner.fit_trace_} >= {"propensity_model", "treatment_model"}


def test_snippet_for_library_defaults_and_a_t_learner():
    text = snippet(ParallelConfig(), SCENARIO)
    assert "'n_jobs'" not in text and "library default" in text and "learner.fit(X, y, w)" in text
    _run_snippet(text)
    t = Scenario(learner="T", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small")
    text = snippet(ParallelConfig(2, None, 2, "threading"), t, engine="metalearners")
    assert "from metalearners import TLearner" in text and "propensity_model_params" not in text
    assert 'backend="threading"' in text and "n_jobs_base_learners=2" in text and "n_jobs_cross_fitting: library default" in text
    text = snippet(ParallelConfig.auto(), t)
    assert 'n_jobs_cross_fitting="auto"' in text
    assert _run_snippet(text).fit_plan_ is not None


# -- recommend() on a store, with a fake measure --------------------------------------------


def fake_result(config: ParallelConfig, wall, ok: bool = True, cores: int = CORES) -> TrialResult:
    """A trial: a cold fit (1.5 x the first warm wall), then the warm walls (a number: one)."""
    walls = [wall] if np.isscalar(wall) else list(wall)
    spec = TrialSpec("scenario", {"config": config.to_dict()}, repeats=1 + len(walls), timeout_s=60)
    kinds = [(0, "cold", walls[0] * 1.5)] + [(i + 1, "warm", w) for i, w in enumerate(walls)]
    fits = [
        FitSample(i, kind, w, w, 0.5, 100.0, 90.0, "rss", 3, float(i), float(i) + w, {"cate_rmse": 0.1})
        for i, kind, w in kinds
    ]
    wall = walls[0]
    return TrialResult(
        spec=spec, status="ok" if ok else "failed", reason=None if ok else "timeout after 60s",
        samples=fits if ok else [], pid=1, hostname="h", n_cores=cores, exit_code=0,
        wall_s=3 * wall, prepare_s=0.1, trial_cpu_s=2 * wall, worker_cpu_s=2 * wall, mem_measure="rss",
    )


TRUE_WALL = {"m1-f1-s1-loky": 4.0, "m2-f1-s1-loky": 2.4, "m1-f2-s1-loky": 2.2, "m2-f2-s1-loky": 1.3, "m1-f2-s2-loky": 1.3, "default": 2.0}


@pytest.fixture
def store_db(tmp_path):
    """A store with a 'sweep' of 5 configs x 3 repeats (no default config)."""
    from harness.store import Store

    db = tmp_path / "h.db"
    rng = np.random.default_rng(0)
    with Store(db) as store:
        run = store.start_run({"hostname": "h"}, "sweep", "smoke")
        for repeat in range(3):
            for cid, wall in TRUE_WALL.items():
                if cid != "default":
                    c = _parse_id(cid)
                    store.record_trial(run, "core", SCENARIO, c, repeat, fake_result(c, wall * math.exp(rng.normal(0, 0.03))))
        store.finish_run(run, {"hostname": "h"})
    return db


class FakeMeasure:
    """Records a synthetic trial in the store (like TrialMeasure) and remembers the order."""

    def __init__(self, db, run_id: str, seed: int = 1) -> None:
        from harness.store import Store

        self.store, self.run_id = Store(db), run_id
        self.order: list[str] = []
        self.rng = np.random.default_rng(seed)
        self.repeat: dict[str, int] = {}

    def __call__(self, config: ParallelConfig):
        from harness.runner import measurement_from_result

        self.order.append(config.id)
        result = fake_result(config, TRUE_WALL[config.id] * math.exp(self.rng.normal(0, 0.03)))
        r = self.repeat[config.id] = self.repeat.get(config.id, 100) + 1
        self.store.record_trial(self.run_id, "core", SCENARIO, config, r, result)
        return measurement_from_result(result)


def test_recommend_remeasures_the_leaders_interleaved(store_db):
    from harness.store import Store, load_fits

    with Store(store_db) as store:
        run_id = store.start_run({"hostname": "h"}, "recommend", None)
    measure = FakeMeasure(store_db, run_id)
    rec = recommend(store_db, SCENARIO, top=3, repeats=5, cores=CORES, measure=measure, run_id=run_id, log=None)
    # the leaders (top 3 by median) plus THE serial config and the library default: the
    # speed-ups' baselines are re-measured in the same interleaved rounds
    lead = {"m2-f2-s1-loky", "m1-f2-s2-loky", "m1-f2-s1-loky"}
    rounds_of = lead | {"default", "m1-f1-s1-loky"}
    assert set(measure.order) == rounds_of
    # round-robin: each round measures every config once, in a (seeded) random order
    rounds = [measure.order[i : i + 5] for i in range(0, 25, 5)]
    assert all(sorted(r) == sorted(rounds_of) for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1
    # decided on this run's samples of the leaders only (5 each); the two 1.3 s
    # configs are equally simple (4 threads, 2 levels, loky), the 2.2 s one is slower
    assert rec.decision.fastest in {"m2-f2-s1-loky", "m1-f2-s2-loky"}
    assert set(rec.decision.table["config_id"]) == lead
    assert (rec.decision.table["n"] == 5).all()
    assert rec.config.id in {"m2-f2-s1-loky", "m1-f2-s2-loky"}
    assert rec.decision.table.set_index("config_id").loc["m1-f2-s1-loky", "verdict"] == "slower"
    # speed-ups from this run's interleaved samples only, with intervals around the true ratios
    assert rec.samples.startswith("re-measured interleaved")
    serial = rec.speedups["vs_serial"]
    assert serial["baseline"] == "m1-f1-s1-loky" and serial["n_baseline"] == 5 and serial["n"] == 5
    assert serial["ci95"][0] < 4.0 / 1.3 < serial["ci95"][1] * 1.05
    default = rec.speedups["vs_default"]
    assert default["n_baseline"] == 5 and default["ci95"][0] <= default["ratio"] <= default["ci95"][1]
    fits = load_fits(store_db)
    assert (fits["run_id"] == run_id).sum() == 2 * 25  # every re-measurement stored (cold + warm)
    text = render_text(rec)
    assert "Welch t-test" in text and "```python" in text and "vs serial" in text
    assert "optimised for: warm fits" in text
    assert json.loads(json.dumps(rec.to_dict()))["recommended"]["config_id"] == rec.config.id


def test_recommend_cold_ranks_the_first_fits_and_says_so(store_db):
    rec = recommend(store_db, SCENARIO, top=2, remeasure=False, log=None, rank="cold")
    assert rec.decision.rank == "cold" and "first fit of each process" in rec.optimised_for
    table = rec.decision.table.set_index("config_id")
    # the fake cold fit is 1.5 x the warm one: both figures are in the table
    assert (table["cold_median"] / table["warm_median"]).round(1).eq(1.5).all()
    assert table["wall_median"].equals(table["cold_median"])
    assert "optimised for: cold fits" in render_text(rec)
    assert json.loads(json.dumps(rec.to_dict()))["optimised_for"] == "cold"


def test_recommend_without_remeasuring_uses_the_store(store_db):
    rec = recommend(store_db, SCENARIO, top=2, remeasure=False, log=None)
    assert rec.cores == CORES and not rec.remeasured
    assert set(rec.decision.table["config_id"]) == {"m2-f2-s1-loky", "m1-f2-s2-loky"}
    assert rec.speedups["vs_default"] is None and any("default" in n for n in rec.notes)
    assert any("not taken interleaved" in n for n in rec.notes)


def test_recommend_refuses_a_workload_never_measured(store_db, tmp_path):
    other = Scenario(learner="T", n_rows=3000, n_variants=2, n_folds=2, base_model="lightgbm_small")
    with pytest.raises(NoData, match=r"never measured.*python -m harness tune --scenario"):
        recommend(store_db, other, remeasure=False, log=None)
    with pytest.raises(NoData, match="never measured"):
        recommend(tmp_path / "missing.db", other, log=None)


def test_cli_recommend(store_db, capsys):
    from harness.cli import main

    rc = main(["recommend", "--scenario", SCENARIO.id[:12], "--db", str(store_db), "--no-remeasure", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out)
    assert data["scenario_id"] == SCENARIO.id and data["test"]["alpha"] == 0.05
    assert data["recommended"]["config_id"] in {"m2-f2-s1-loky", "m1-f2-s2-loky"}
    assert "learner.fit(X, y, w" in data["snippet"]

    fields = "learner=T,n_rows=3000,n_folds=2,base_model=lightgbm_small"
    rc = main(["recommend", "--scenario", fields, "--db", str(store_db), "--no-remeasure"])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1
    assert "never measured" in err and f"python -m harness tune --scenario {fields}" in err
