"""``python -m harness recommend``: what to put into production for one workload.

1. **Leaders.** From every measurement of the workload (engine + scenario) in the
   store -- sweep, tune and earlier recommend runs alike -- the top K configs
   (default 3) by median wall of the ranked kind of fit (``--rank warm``, the
   default: fits 2.. of each trial; ``--rank cold``: the first fit of each trial, what
   a batch job that fits once per process pays) on this machine's core count.
2. **Re-measure, interleaved.** The leaders, THE serial config and the library
   default are measured again, R repeats each (default 5), round-robin in a fresh
   random order every round (seeded), so slow drifts of the machine hit every config
   alike. Every measurement is recorded in the store (a run ``recommend``).
   ``--no-remeasure`` decides on the stored samples instead.
3. **Decide** (:func:`harness.analysis.decision.decide`): the fastest leader, every
   other one judged against it by THE verdict rule
   (:func:`harness.analysis.stats.verdict`: "tied", "slower" or "too few samples"),
   and the simplest of the fastest and its ties recommended.
4. **Expected speed-up** vs serial and vs the library default: the ratio of median
   walls (ranked kind) with a seeded bootstrap 95% interval resampling trials, from the same samples as the
   decision (this run's interleaved re-measurement, or the stored ones with
   ``--no-remeasure``); the output says which.

It never invents a figure: a workload with no measurement is refused, with the
command that measures it.
"""

from __future__ import annotations

import contextlib

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.analysis.decision import SIMPLICITY, Decision, decide, leaders
from harness.analysis.samples import check_rank, config_from_row, ranked_fits, serial_reference, warm_fits
from harness.analysis.stats import ALPHA, MIN_EFFECT, ratio_ci, too_few_note
from harness.config import ParallelConfig
from harness.errors import NoData, UsageError
from harness.render.hints import follow_up
from harness.render.snippet import snippet

if TYPE_CHECKING:  # pragma: no cover
    from scenarios import Scenario

__all__ = ["Recommendation", "recommend", "stored_scenario"]

INTERLEAVED = "re-measured interleaved in this run"
STORED = "stored measurements (sweep/tune/earlier runs, not interleaved)"
OPTIMISED_FOR = {
    "warm": "warm fits (fits 2.. of each process: a long-lived process that fits repeatedly)",
    "cold": "cold fits (the first fit of each process: a batch job that fits once per process)",
}


@dataclass
class Recommendation:
    engine: str
    scenario_id: str
    scenario: dict[str, Any]
    cores: int
    config: ParallelConfig
    decision: Decision
    remeasured: bool
    repeats: int
    speedups: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None

    @property
    def samples(self) -> str:
        """Which samples the decision and the speed-ups use."""
        return INTERLEAVED if self.remeasured else STORED

    @property
    def optimised_for(self) -> str:
        """Which fits the decision ranked, in words."""
        return OPTIMISED_FOR[self.decision.rank]

    @property
    def snippet(self) -> str:
        return snippet(self.config, self.scenario, self.engine)

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            return v.item() if hasattr(v, "item") else v

        return {
            "engine": self.engine,
            "scenario_id": self.scenario_id,
            "scenario": self.scenario,
            "cores": self.cores,
            "recommended": {"config_id": self.config.id, **self.config.to_dict()},
            "fastest": self.decision.fastest,
            "tied_with_fastest": self.decision.tied,
            "optimised_for": self.decision.rank,
            "test": {"name": self.decision.test, "alpha": self.decision.alpha, "min_effect": self.decision.min_effect},
            "simplicity_order": SIMPLICITY,
            "samples": self.samples,
            "run_id": self.run_id,
            "candidates": [{k: plain(v) for k, v in row.items()} for row in self.decision.table.to_dict("records")],
            "speedup": self.speedups,
            "snippet": self.snippet,
            "notes": self.notes,
        }


def stored_scenario(db: str | Path, text: str, engine: str | None = None, phase: str = "fit") -> Scenario | None:
    """The scenario whose id is ``text`` (or starts with it) among the store's measurements.

    None when the store (or the id) is not there; :class:`UsageError` when ambiguous.
    """
    from harness.store import load_fits
    from scenarios import Scenario

    if "=" in text or not Path(db).is_file():
        return None
    fits = load_fits(db, phase)  # the trials of that phase (fit, or predict)
    if engine is not None:
        fits = fits[fits["engine"] == engine]
    ids = sorted(i for i in fits["scenario_id"].unique() if i.startswith(text))
    if text in ids:
        ids = [text]
    if not ids:
        return None
    if len(ids) > 1:
        raise UsageError(f"--scenario {text!r} is ambiguous in {db}: {', '.join(ids)}")
    import json
    import sqlite3

    # The whole scenario as recorded (a data file's and the models' fields are not columns).
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        (text,) = conn.execute("SELECT scenario FROM harness_trials WHERE scenario_id = ? LIMIT 1", (ids[0],)).fetchone()
    return Scenario.from_dict(json.loads(text))


def _fits_here(db: Path, engine: str, scenario: Scenario, cores: int | None,
               study: pd.DataFrame | None = None) -> pd.DataFrame:
    """The workload's ok fits (cold and warm) on ``cores`` (None: the most common count), with a
    tune study's samples (``study``) where given, of one machine type (:func:`_one_machine`)."""
    from harness.store import load_fits

    frames = [load_fits(db)] if db.is_file() or study is None else []
    fits = pd.concat(frames + [study], ignore_index=True) if study is not None and not study.empty else frames[0]
    fits = _one_machine(fits)
    fits = fits[(fits["engine"] == engine) & (fits["scenario_id"] == scenario.id) & (fits["status"] == "ok")]
    fits = fits[fits["wall_s"].notna()]
    if cores is None:
        cores = int(fits["n_cores"].dropna().mode().iloc[0]) if fits["n_cores"].notna().any() else 1
    return fits[fits["n_cores"].isna() | (fits["n_cores"] == cores)]


def _one_machine(fits: pd.DataFrame) -> pd.DataFrame:
    """The fits of the machine type with the most trials (several types: a cluster of
    several machines; ``compare --by host`` sets them side by side). Rows without a
    machine (a study's samples) count for every type."""
    if "machine" not in fits or fits["machine"].dropna().nunique() < 2:
        return fits
    counts = fits.dropna(subset=["machine"]).groupby("machine")["trial_id"].nunique()
    machine = counts.sort_values(ascending=False).index[0]
    return fits[fits["machine"].isna() | (fits["machine"] == machine)]


def _refuse_without_data(db: Path, engine: str, scenario: Scenario, cores: int | None, how: str) -> None:
    from harness.store import load_fits

    if not db.is_file():
        raise NoData(f"{engine} | {scenario.id} was never measured (no results database {db}); measure it first: {how}")
    fits = load_fits(db)
    fits = fits[(fits["engine"] == engine) & (fits["scenario_id"] == scenario.id)]
    warm = warm_fits(fits)
    if warm.empty:
        failed = fits["trial_id"].nunique() if len(fits) else 0
        detail = f" ({failed} failed trial(s) only)" if failed else ""
        raise NoData(f"{engine} | {scenario.id} was never measured successfully in {db}{detail}; measure it first: {how}")
    if cores is not None and not (warm["n_cores"].isna() | (warm["n_cores"] == cores)).any():
        others = sorted({int(c) for c in warm["n_cores"].dropna()})
        raise NoData(
            f"{engine} | {scenario.id} was measured only with {', '.join(map(str, others))} cores, not {cores}; "
            f"measure it on this machine first: {how}"
        )


def _rounds(configs: dict[str, ParallelConfig], measure: Callable[[ParallelConfig], Any], repeats: int,
            seed: int, say: Callable[[str], None]) -> None:
    """``repeats`` rounds, each measuring every config once in a fresh random order."""
    order = list(configs)
    rng = random.Random(seed)
    say(f"re-measuring {len(order)} configs x {repeats} repeats, interleaved in random order (seed {seed}): "
        + ", ".join(order))
    for r in range(repeats):
        rng.shuffle(order)
        for cid in order:
            m = measure(configs[cid])
            walls = getattr(m, "walls", None)
            figure = f"{np.median(walls):.4g} s" if getattr(m, "ok", True) and walls else f"FAILED: {getattr(m, 'reason', '')}"
            say(f"  round {r + 1}/{repeats}  {cid:<22} {figure}")


def _speedup(samples: pd.DataFrame, base_id: str | None, config_id: str, seed: int) -> dict[str, Any] | None:
    """Speed-up of ``config_id`` against ``base_id`` from these samples (None if either lacks them)."""
    base = samples[samples["config_id"] == base_id]
    cand = samples[samples["config_id"] == config_id]
    if base_id is None or base.empty or cand.empty:
        return None
    ratio, lo, hi = ratio_ci(base, cand, seed=seed)
    return {
        "baseline": base_id,
        "ratio": ratio,
        "ci95": [lo, hi],
        "baseline_median_s": float(base["wall_s"].median()),
        "median_s": float(cand["wall_s"].median()),
        "n_baseline": int(base["trial_id"].nunique()),
        "n": int(cand["trial_id"].nunique()),
        "interval": "percentile bootstrap of the ratio of medians resampling trials, 10000 resamples",
    }


def recommend(
    db: str | Path,
    scenario: Scenario,
    *,
    engine: str = "core",
    top: int = 3,
    repeats: int = 5,
    values: int | None = None,
    remeasure: bool = True,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
    seed: int = 0,
    timeout_s: float = 600.0,
    cores: int | None = None,
    measure: Callable[[ParallelConfig], Any] | None = None,
    run_id: str | None = None,
    host_lock: bool = True,
    log: Callable[[str], None] | None = print,
    scenario_text: str | None = None,
    limit_cores: int | None = None,
    cluster: str | None = None,
    storage: str | None = None,
    study: str | None = None,
) -> Recommendation:
    """Leaders from the store, re-measured interleaved (unless ``remeasure`` False), decided.

    ``measure(config)`` runs and records one trial (default: a
    :class:`harness.runner.TrialRunner` on ``Store(db)`` under a new run ``recommend``
    unless ``run_id`` is given; ``limit_cores``: its trials pinned to that many CPUs). Raises :class:`NoData` (with the command that
    measures the workload) when the store has no usable measurement.

    ``cluster``: re-measure on a Dask cluster's hosts (:class:`harness.cluster_runs.ClusterMeasure`).
    ``storage`` (``study``): also read the tune study there, e.g. one several machines
    share on PostgreSQL (its walls count as stored measurements). Where the store holds
    several machine types, the one with the most trials is decided on.
    """
    if cluster and remeasure and measure is None:
        from harness.cluster_runs import measuring_on_cluster

        with measuring_on_cluster(db, engine, scenario, cluster, values, timeout_s, log) as (measure, run_id, cores):
            return recommend(
                db, scenario, engine=engine, top=top, repeats=repeats, values=values, remeasure=True, alpha=alpha,
                min_effect=min_effect, rank=rank, seed=seed, timeout_s=timeout_s, cores=cores, measure=measure,
                run_id=run_id, host_lock=host_lock, log=log, scenario_text=scenario_text, storage=storage, study=study,
            )
    say = log or (lambda text: None)
    check_rank(rank)
    db = Path(db)
    target = scenario_text if scenario_text and "=" in scenario_text else scenario.id
    how = follow_up("tune", scenario=target, engine=engine, db=db)
    if cores is None and remeasure:
        from harness.measure import available_cores

        cores = available_cores()
    studied = None
    if storage is not None:
        from harness.tune.storage import study_fits

        studied = study_fits(storage, study, engine, scenario.id)
        say(f"read {studied['trial_id'].nunique()} measurement(s) of {engine} | {scenario.id} from the study in {storage}")
    if studied is None or studied.empty:
        _refuse_without_data(db, engine, scenario, cores, how)
    here = _fits_here(db, engine, scenario, cores, studied)
    cores = cores if cores is not None else int(here["n_cores"].dropna().mode().iloc[0]) if here["n_cores"].notna().any() else 1
    lead = leaders(ranked_fits(here, rank), top)
    fallback_serial = ParallelConfig(1, 1, 1, "loky", n_jobs_grid=1 if scenario.grid is not None else None)
    serial_id = serial_reference(ranked_fits(here, rank)) or fallback_serial.id
    notes: list[str] = []
    if remeasure:
        configs = {cid: config_from_row(here[here["config_id"] == cid].iloc[0]) for cid in lead}
        for extra in (ParallelConfig.from_id(serial_id), ParallelConfig()):  # the speed-ups' baselines
            configs.setdefault(extra.id, extra)
        run_id = _remeasure(db, engine, scenario, configs, measure, run_id, repeats, values, seed, timeout_s,
                            host_lock, say, limit_cores)
        basis = _fits_here(db, engine, scenario, cores, studied)
        basis = basis[basis["run_id"] == run_id] if run_id is not None else basis
        if ranked_fits(basis[basis["config_id"].isin(lead)], rank).empty:
            raise NoData(f"every re-measurement of {engine} | {scenario.id} failed; see `python -m harness report`")
        missing = [cid for cid in lead if not (ranked_fits(basis, rank)["config_id"] == cid).any()]
        if missing:
            notes.append(f"re-measurement failed for {', '.join(missing)}: left out of the decision")
    else:
        basis = here
        notes.append("decided on stored measurements (--no-remeasure): they were not taken interleaved")
    decision = decide(basis[basis["config_id"].isin(lead)], cores, alpha, min_effect, rank)
    if decision.underpowered:
        notes.append(f"{', '.join(decision.underpowered)}: {too_few_note(alpha)}")
    ranked = ranked_fits(basis, rank)
    speedups = {
        "vs_serial": _speedup(ranked, serial_id, decision.recommended, seed),
        "vs_default": _speedup(ranked, "default", decision.recommended, seed),
    }
    notes += [f"no measurement of the {name[3:]} config: no speed-up {name.replace('_', ' ')}"
              for name, s in speedups.items() if s is None]
    return Recommendation(
        engine=engine,
        scenario_id=scenario.id,
        scenario=scenario.to_dict(),
        cores=cores,
        config=config_from_row(basis[basis["config_id"] == decision.recommended].iloc[0]),
        decision=decision,
        remeasured=remeasure,
        repeats=repeats,
        speedups=speedups,
        notes=notes,
        run_id=run_id,
    )


def _remeasure(db: Path, engine: str, scenario: Scenario, configs: dict[str, ParallelConfig],
               measure: Callable[[ParallelConfig], Any] | None, run_id: str | None, repeats: int,
               values: int | None, seed: int, timeout_s: float, host_lock: bool,
               say: Callable[[str], None], limit_cores: int | None = None) -> str | None:
    """The interleaved rounds, recorded under a new ``recommend`` run (or ``run_id``); returns the run."""
    if measure is not None:
        _rounds(configs, measure, repeats, seed, say)
        return run_id
    from harness.locks import HostTrialLock
    from harness.manifest import collect_manifest, finish_manifest
    from harness.runner import DEFAULT_VALUES, TrialRunner
    from harness.store import Store

    manifest = collect_manifest()
    manifest["cores_limit"] = limit_cores  # --cores: the trials' CPU affinity (None: not limited)
    with Store(db) as store, HostTrialLock(host_lock) as lock:
        run_id = run_id or store.start_run(manifest, "recommend", None)
        try:
            runner = TrialRunner(engine, scenario, store, run_id, timeout_s=timeout_s, lock=lock,
                                 values=values or DEFAULT_VALUES, cores=limit_cores)
            _rounds(configs, runner, repeats, seed, say)
        finally:
            store.finish_run(run_id, finish_manifest(manifest))
    return run_id
