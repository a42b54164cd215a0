"""The samples that count: which stored fits are measurements, and the config of a row.

Everything downstream (statistics, bounds, decisions, plots) starts from these:
:func:`warm_fits` (ok fits that are not a trial's cold first fit), :func:`cold_fits`
(the first fit of each trial), :func:`ranked_fits` (either, by ``--rank``), :func:`warm_tasks`
(their task-trace rows), :func:`config_from_row` (a fits row's
:class:`~harness.config.ParallelConfig`) and :func:`cores_of` (the core count a set
of fits was measured on).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.config import LEVELS, ParallelConfig

__all__ = [
    "check_rank",
    "cold_fits",
    "config_from_row",
    "cores_of",
    "is_serial",
    "level",
    "ranked_fits",
    "serial_reference",
    "warm_fits",
    "warm_tasks",
]


def level(value: Any) -> int | None:
    """A stored level: NaN / NULL / NA is the library default (None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return int(value)


def config_from_row(row: Any) -> ParallelConfig:
    """The :class:`ParallelConfig` of a fits row (NaN level = library default)."""
    backend = row["backend"]
    if not isinstance(backend, str):
        backend = "loky"
    grid = level(row["n_jobs_grid"]) if "n_jobs_grid" in row else None  # a grid search's level (schema 4)
    return ParallelConfig(*(level(row[name]) for name in LEVELS), backend=backend, n_jobs_grid=grid)


def cores_of(fits: pd.DataFrame) -> int:
    """The most common core count of these fits (1 when none is recorded)."""
    cores = fits["n_cores"].dropna()
    return int(cores.mode().iloc[0]) if len(cores) else 1


def warm_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """The measured samples: status ``ok``, not the cold fit, with a wall time."""
    if fits.empty:
        return fits
    cold = fits["cold"].astype("boolean").fillna(True).astype(bool)
    keep = (fits["status"] == "ok") & ~cold & fits["wall_s"].notna()
    return fits[keep]


def cold_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """The cold fits: status ``ok``, the first fit of its trial (one per trial), with a wall time."""
    if fits.empty:
        return fits
    cold = fits["cold"].astype("boolean").fillna(False).astype(bool)
    keep = (fits["status"] == "ok") & cold & fits["wall_s"].notna()
    return fits[keep]


def check_rank(rank: str) -> str:
    """``rank`` itself when it is ``warm`` or ``cold``; else a ValueError naming what is allowed."""
    from harness.analysis.stats import RANKS

    if rank not in RANKS:
        raise ValueError(f"rank={rank!r} is not allowed; choose {' or '.join(RANKS)}")
    return rank


def ranked_fits(fits: pd.DataFrame, rank: str = "warm") -> pd.DataFrame:
    """The fits a ranking uses: :func:`warm_fits` or :func:`cold_fits`."""
    return warm_fits(fits) if check_rank(rank) == "warm" else cold_fits(fits)


def warm_tasks(tasks: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """The task-trace rows of warm, ok fits (joined on trial and fit index)."""
    if tasks.empty:
        return tasks
    keys = warm_fits(fits)[["trial_id", "fit_index"]].drop_duplicates()
    keys = keys.astype({"fit_index": tasks["fit_index"].dtype}, errors="ignore")
    return tasks.merge(keys, on=["trial_id", "fit_index"], how="inner")


def is_serial(config_id: str) -> bool:
    """Whether a stored config id is a serial config (``m1-f1-s1-*``)."""
    return ParallelConfig.from_id(config_id).is_serial


def serial_reference(warm: pd.DataFrame) -> str | None:
    """THE serial config that speed-ups divide: of the serial configs with samples,
    the one with the most trials (then the first id). None when none was measured."""
    if warm.empty:
        return None
    rows = warm.drop_duplicates("trial_id") if "trial_id" in warm else warm
    counts = rows["config_id"].value_counts()
    serial = sorted((-int(n), cid) for cid, n in counts.items() if is_serial(cid))
    return serial[0][1] if serial else None
