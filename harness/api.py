"""The Python API for notebooks: benchmark and recommend a workload given as a DataFrame.

:func:`benchmark` and :func:`recommend_frame` take a pandas DataFrame and the options
of ``sweep --data ...`` / ``recommend --data ...`` as keywords. The frame is written
once, as Parquet, into the data cache (``<cache>/frames/<name>.<digest>.parquet``,
named by its content: the same frame again is not rewritten) and from there takes
exactly the command line's path: the file is read, checked and converted by
:mod:`scenarios.files`, the workload becomes a preset next to the results database
(:mod:`harness.own_data`), :func:`harness.sweep.run_sweep` measures it (a fresh child
process per trial, resuming what the store already holds) and
:func:`harness.recommend.recommend` decides. Bad input raises a
:class:`harness.errors.HarnessError` (a ``ValueError``) of one line, and nothing is
written to the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.analysis.stats import ALPHA, MIN_EFFECT
from harness.errors import NoData, UsageError, user_input
from harness.own_data import entry_scenario, workload_entry, write_workload_preset
from harness.render.hints import DEFAULT_DB

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.config import ParallelConfig
    from harness.recommend import Recommendation

__all__ = ["Benchmark", "FrameRecommendation", "benchmark", "frame_file", "recommend_frame"]


@dataclasses.dataclass(frozen=True, eq=False)
class Benchmark:
    """What :func:`benchmark` measured.

    Attributes:
        scenario_id: the workload's id in the store (``DR-<name>-...``).
        measurements: this workload's rows of the store, one per fit (the trial's cold
            fit and its warm values; ``trial_id`` names the trial), the columns of
            ``python -m harness export``.
        report: the Markdown report of this workload (``python -m harness report --format md``).
        db: the results database.
        data: the Parquet file the frame was written to.
    """

    scenario_id: str
    measurements: pd.DataFrame
    report: str
    db: Path
    data: Path


@dataclasses.dataclass(frozen=True, eq=False)
class FrameRecommendation:
    """What :func:`recommend_frame` decided.

    Attributes:
        config: the recommended :class:`harness.config.ParallelConfig`.
        table: the candidates (one row per config: medians, trials, verdict, recommended).
        snippet: the code to paste (``X, y, w`` and, with weights, ``sample_weight`` as yours).
        text: the recommendation as ``python -m harness recommend`` prints it.
        recommendation: the full :class:`harness.recommend.Recommendation`.
    """

    config: ParallelConfig
    table: pd.DataFrame
    snippet: str
    text: str
    recommendation: Recommendation


def frame_file(frame: pd.DataFrame, name: str = "frame", cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The frame as ``<cache>/frames/<name>.<digest>.parquet``: written once per content
    (column names, dtypes and values; not the index), found again afterwards."""
    import pandas as pd

    from scenarios.cache import default_cache_dir

    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"frame has type {type(frame).__name__}; give a pandas DataFrame")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise UsageError(f"name={name!r} is not allowed; use letters, digits and _ (it names the scenario)")
    columns = list(frame.columns)
    bad = [c for c in columns if not isinstance(c, str) or not c]
    if bad:
        raise UsageError(f"frame column {bad[0]!r} is not a name; every column needs a non-empty string name")
    twice = [c for i, c in enumerate(columns) if c in columns[:i]]
    if twice:
        raise UsageError(f"frame has column {twice[0]!r} {columns.count(twice[0])} times; column names must be unique")
    digest = hashlib.sha256(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "frames" / f"{name}.{digest.hexdigest()[:16]}.parquet"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)  # atomic: a reader sees no file or the whole file
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return path


def _workload(frame: Any, name: str, **options: Any) -> tuple[dict[str, Any], Any, Path]:
    """(the workload's preset entry, its checked scenario, the frame's file)."""
    path = frame_file(frame, name)
    with user_input("frame: "):
        entry = workload_entry(path, **options)
    return entry, entry_scenario(entry, "frame: "), path


def benchmark(
    frame: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    features: list[str] | None = None,
    weights: str | None = None,
    classification: bool = False,
    learner: str = "DR",
    folds: int = 5,
    model: str = "lightgbm",
    model_params: dict[str, Any] | None = None,
    encode_categoricals: str = "native",
    name: str = "frame",
    db: str | os.PathLike[str] | None = None,
    engines: tuple[str, ...] | list[str] | str = ("core",),
    repeats: int = 3,
    values: int = 2,
    levels: list[int] | None = None,
    backends: list[str] | None = None,
    oversubscribe: float = 1.0,
    timeout_s: float = 600.0,
    seed: int = 0,
) -> Benchmark:
    """Sweep the splits of the cores for fitting ``learner`` on ``frame``; what
    ``python -m harness sweep --data FILE ...`` does with the same options.

    The workload: ``outcome``, ``treatment`` and (default: every other column but the
    weights) ``features`` columns, ``weights`` a column of sample weights, a 0/1 outcome
    with ``classification``, ``folds`` cross-fitting folds, every base model ``model``
    (a registry name or ``"package.module:Class"``) with ``model_params``; ``name``
    names the scenario. The sweep: ``repeats`` trials per config of ``1 + values`` fits
    each, the configs of ``levels`` and ``backends`` (default 1, 2, 4, ... up to the
    cores; loky and threading), for each of ``engines``.

    ``db`` defaults to the command line's ``results/harness.db`` (relative to the
    working directory), so ``python -m harness report`` reads it too, and calling
    again with the same frame and options measures only what is missing (nothing, once
    complete). The frame's file stays in the data cache for the trials and later calls.
    """
    from harness.config import BACKENDS
    from harness.report import render_report
    from harness.store import load_fits
    from harness.sweep import SweepOptions, run_sweep

    db = Path(db) if db is not None else DEFAULT_DB
    engines = (engines,) if isinstance(engines, str) else tuple(engines)
    options = SweepOptions(  # validated before anything is written
        db=db, preset=None, engines=engines, repeats=repeats, values=values,
        levels=tuple(levels) if levels else None, backends=tuple(backends or BACKENDS),
        oversubscribe=oversubscribe, timeout_s=timeout_s, seed=seed, report=False,
    )
    entry, scenario, path = _workload(
        frame, name, outcome=outcome, treatment=treatment, features=features, weights=weights,
        classification=classification, learner=learner, folds=folds, model=model,
        model_params=model_params, encode_categoricals=encode_categoricals,
    )
    run_sweep(dataclasses.replace(options, scenarios_file=str(write_workload_preset(entry, db))))
    fits = load_fits(db)
    return Benchmark(
        scenario_id=scenario.id,
        measurements=fits[fits["scenario_id"] == scenario.id].reset_index(drop=True),
        report=render_report(db, "md", scenario_id=scenario.id),
        db=db,
        data=path,
    )


def recommend_frame(
    frame: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    features: list[str] | None = None,
    weights: str | None = None,
    classification: bool = False,
    learner: str = "DR",
    folds: int = 5,
    model: str = "lightgbm",
    model_params: dict[str, Any] | None = None,
    encode_categoricals: str = "native",
    name: str = "frame",
    db: str | os.PathLike[str] | None = None,
    engine: str = "core",
    top: int = 3,
    repeats: int = 5,
    values: int = 2,
    remeasure: bool = True,
    rank: str = "warm",
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    seed: int = 0,
    timeout_s: float = 600.0,
    verbose: bool = True,
) -> FrameRecommendation:
    """The config to put into production for fitting ``learner`` on ``frame``; what
    ``python -m harness recommend --data FILE ...`` does with the same options.

    The workload options are :func:`benchmark`'s, and it must have been measured into
    ``db`` (default ``results/harness.db``) by :func:`benchmark` (or the command
    line) first. The ``top`` leaders are re-measured ``repeats`` times each,
    interleaved, in fresh processes (``remeasure=False``: decided on the stored
    measurements); ``verbose`` prints the rounds on stderr.
    """
    from harness.engines import check_engine
    from harness.locks import store_lock
    from harness.recommend import recommend
    from harness.render.recommend import render_text

    db = Path(db) if db is not None else DEFAULT_DB
    with user_input("engine: "):
        check_engine(engine)
    _, scenario, _ = _workload(
        frame, name, outcome=outcome, treatment=treatment, features=features, weights=weights,
        classification=classification, learner=learner, folds=folds, model=model,
        model_params=model_params, encode_categoricals=encode_categoricals,
    )
    log = (lambda text: print(text, file=sys.stderr)) if verbose else None
    try:
        with store_lock(db, False, "recommend") if remeasure and db.is_file() else contextlib.nullcontext():
            rec = recommend(
                db, scenario, engine=engine, top=top, repeats=repeats, values=values, remeasure=remeasure,
                alpha=alpha, min_effect=min_effect, rank=rank, seed=seed, timeout_s=timeout_s, log=log,
            )
    except NoData as e:
        raise NoData(f"{e}; from Python: harness.benchmark(frame, ...) with the same workload options") from None
    return FrameRecommendation(
        config=rec.config, table=rec.decision.table, snippet=rec.snippet, text=render_text(rec), recommendation=rec,
    )
