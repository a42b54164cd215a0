"""The what-if predictor's cost model, read from a results store: a workload's task graph and its costs.

From the stored task traces (``harness_tasks``) of the core engine's serial config
(``m1-f1-s1``; warm fits, those measured with ``--cores 1`` preferred): every
base-model fit's single-thread duration (median over fits), rows and order, grouped
into the learner's models, with the models each waits for (the learner's
dependencies, as its ``_treatment_plan`` declares them). Thread scaling: Amdahl's
serial fraction per model kind (:func:`harness.whatif.replay.fit_serial_fraction`)
from the same fits measured at more threads (warm fits of pool-free configs
``m{t}-f1-s1`` with ``t > 1``), pooled over the store's scenarios with the same base
model where the workload has none. The serial glue of a fit (its wall outside the
base-model fits: validation, second-stage inputs) and the cold fit's extra cost are
taken from the same serial trials. Fits that copied LightGBM's binned data in the
profile (in-process pools share it) are given this machine's binning time of their
rows, which they pay in worker processes. The ``metalearners`` package records no task
trace: its fits are the core engine's, scaled by the ratio of the two engines'
measured serial walls where the store has the package's serial config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import NoData
from harness.whatif.replay import Fit, Job, fit_serial_fraction

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["CostModel", "SERIAL_ID", "cost_model", "learner_needs"]

SERIAL_ID = "m1-f1-s1-loky"
_SERIAL_PREFIX = "m1-f1-s1-"
#: Amdahl's serial fraction assumed where the store has no fit at more than one thread.
ASSUMED_SERIAL_FRACTION = 0.5


def learner_needs(learner: str, model_kind: str, model_ord: int) -> frozenset:
    """The models ``(kind, ord)`` a learner's model waits for (its ``_treatment_plan``)."""
    if learner == "DR" and model_kind == "treatment_model":
        v = model_ord + 1
        return frozenset({("variant_outcome_model", 0), ("variant_outcome_model", v), ("propensity_model", 0)})
    if learner == "X" and model_kind in ("treatment_effect_model", "control_effect_model"):
        return frozenset({("variant_outcome_model", 0), ("variant_outcome_model", model_ord + 1)})
    if learner == "R" and model_kind == "treatment_model":
        return frozenset({("propensity_model", 0), ("outcome_model", 0)})
    return frozenset()


@dataclass(frozen=True)
class CostModel:
    """One workload's graph and costs (see the module); figures in seconds."""

    scenario_id: str
    learner: str
    base_model: str
    jobs: tuple[Job, ...]
    glue_s: float  # a warm serial fit's wall outside its base-model fits
    cold_extra_s: float  # a cold serial fit's wall minus a warm one's
    serial_wall_s: float  # the measured warm serial wall (the check of the replay at 1 core)
    package_factor: float | None  # the package's serial wall / the core engine's (None: not measured)
    serial_fractions: dict  # model kind -> Amdahl's f used
    scaling_note: str  # where the serial fractions came from
    profiled_cores: int  # the cores the serial traces were measured on


def _ok_warm(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & (~df["cold"])]


def _scaling(tasks: pd.DataFrame, fits: pd.DataFrame, serial: pd.DataFrame, scenario_id: str, base_model: str):
    """(kind -> f, note): ratios of multi-thread to single-thread durations per fit key."""

    key = ["scenario_id", "stage", "model_kind", "model_ord", "fold"]
    threaded = _ok_warm(tasks)
    pool_free = threaded["config_id"].str.match(r"^m\d+-f1-s1-") & (threaded["model_n_jobs"] > 1)
    threaded = threaded[pool_free].assign(duration=lambda d: d["end_s"] - d["start_s"])
    single = _ok_warm(tasks)
    single = single[single["config_id"].str.startswith(_SERIAL_PREFIX)].assign(duration=lambda d: d["end_s"] - d["start_s"])
    if threaded.empty or single.empty:
        return {}, "no fit at more than one thread in the store"
    one = single.fillna({"fold": -1}).groupby(key)["duration"].median().rename("d1")
    many = threaded.fillna({"fold": -1}).groupby([*key, "model_n_jobs"])["duration"].median().rename("dt").reset_index()
    pairs = many.join(one, on=key).dropna(subset=["d1"])
    pairs = pairs[pairs["d1"] > 0]
    base_of = fits.drop_duplicates("scenario_id").set_index("scenario_id")["base_model"]
    pairs = pairs.assign(base_model=pairs["scenario_id"].map(base_of), ratio=pairs["dt"] / pairs["d1"])
    kinds = sorted(set(serial["model_kind"]))
    fractions, sources = {}, set()
    for kind in kinds:
        for where, rows in (
            ("this workload", pairs[(pairs["scenario_id"] == scenario_id) & (pairs["model_kind"] == kind)]),
            (f"every {base_model} workload", pairs[(pairs["base_model"] == base_model) & (pairs["model_kind"] == kind)]),
            (f"every {base_model} model", pairs[pairs["base_model"] == base_model]),
        ):
            if not rows.empty:
                fractions[kind] = fit_serial_fraction(list(zip(rows["model_n_jobs"].astype(int), rows["ratio"])))
                sources.add(where)
                break
    threads = sorted({int(t) for t in pairs["model_n_jobs"]}) if not pairs.empty else []
    note = f"fitted at {', '.join(map(str, threads))} threads from {', '.join(sorted(sources))}" if sources else ""
    return fractions, note or "no fit at more than one thread in the store"


def cost_model(
    db: str | Path, scenario_id: str, tasks: pd.DataFrame | None = None, fits: pd.DataFrame | None = None,
    binning: Callable[[int, int], float] | None = None,
) -> CostModel:
    """The :class:`CostModel` of ``scenario_id`` from the store ``db`` (``tasks``/``fits``:
    already loaded :func:`load_tasks` / :func:`load_fits` frames, to read the store once).

    ``binning(rows, features)``: seconds LightGBM takes to bin that many rows (this
    machine's, :meth:`harness.whatif.calibrate.PoolCosts.binning_s`); a fit whose trace
    says it copied its bins gets it as ``bins_s`` (none without ``binning``).
    """
    from harness.store import load_fits, load_tasks

    tasks = load_tasks(db) if tasks is None else tasks
    fits = load_fits(db) if fits is None else fits
    core_tasks = tasks[tasks["engine"] == "core"]
    serial = _ok_warm(core_tasks)
    serial = serial[(serial["scenario_id"] == scenario_id) & serial["config_id"].str.startswith(_SERIAL_PREFIX)]
    if serial.empty:
        raise NoData(
            f"{db}: no task trace of {scenario_id}'s serial config (core engine, {SERIAL_ID}, warm fits); "
            f"profile it first: python -m harness sweep ... --cores 1 (or measure --config model=1,folds=1,stage=1)"
        )
    if (serial["n_cores"] == 1).any():
        serial = serial[serial["n_cores"] == 1]
    profiled_cores = int(serial["n_cores"].dropna().mode().iloc[0]) if serial["n_cores"].notna().any() else 1
    serial = serial.assign(duration=serial["end_s"] - serial["start_s"])
    workload = fits[(fits["scenario_id"] == scenario_id)].iloc[0]
    learner, base_model = str(workload["learner"]), str(workload["base_model"])

    fractions, note = _scaling(tasks[tasks["engine"] == "core"], fits, serial, scenario_id, base_model)
    assumed = sorted(set(serial["model_kind"]) - set(fractions))
    for kind in assumed:
        fractions[kind] = ASSUMED_SERIAL_FRACTION
    if assumed:
        joint = ": " if note.startswith("no fit") else "; "
        note = f"{note}{joint}f={ASSUMED_SERIAL_FRACTION:g} ASSUMED for {', '.join(assumed)}"

    copied = serial["bins"].eq("copied") if "bins" in serial else False
    per_fit = serial.assign(copied=copied).fillna({"fold": -1}).groupby(["stage", "model_kind", "model_ord", "fold"]).agg(
        work_s=("duration", "median"), rows=("n_rows", "max"), order=("start_s", "median"), copied=("copied", "mean")
    ).reset_index()
    n_features = int(workload["n_features"])
    bins_of = (lambda r: binning(int(r.rows), n_features) if binning is not None and r.copied >= 0.5 else 0.0)
    models = per_fit.groupby(["model_kind", "model_ord"]).agg(stage=("stage", "first"), order=("order", "min")).reset_index()
    jobs = []
    for m in models.sort_values("order").itertuples():
        rows = per_fit[(per_fit["model_kind"] == m.model_kind) & (per_fit["model_ord"] == m.model_ord)]
        rows = rows.assign(overall_first=rows["fold"] >= 0).sort_values(["overall_first", "fold"])
        job_fits = tuple(Fit(None if r.fold < 0 else int(r.fold), int(r.rows), float(r.work_s), bins_of(r))
                         for r in rows.itertuples())
        jobs.append(Job((m.model_kind, int(m.model_ord)), m.stage, job_fits, frozenset(), fractions[m.model_kind]))
    present = {j.id for j in jobs}
    jobs = [Job(j.id, j.stage, j.fits, learner_needs(learner, *j.id) & present, j.serial_fraction) for j in jobs]

    fit_rows = fits[(fits["scenario_id"] == scenario_id) & (fits["status"] == "ok")]
    serial_fits = fit_rows[(fit_rows["engine"] == "core") & fit_rows["config_id"].str.startswith(_SERIAL_PREFIX)]
    if (serial_fits["n_cores"] == 1).any():
        serial_fits = serial_fits[serial_fits["n_cores"] == 1]
    warm, cold = serial_fits[~serial_fits["cold"]], serial_fits[serial_fits["cold"]]
    # everything of a serial fit outside its base-model fits (checks, second-stage inputs,
    # gaps), such that the replay of the serial config gives the measured median wall
    serial_wall = float(warm["wall_s"].median())
    glue = max(0.0, serial_wall - float(per_fit["work_s"].sum()))
    cold_extra = max(0.0, float(cold["wall_s"].median()) - serial_wall) if not cold.empty else 0.0
    package = fit_rows[(fit_rows["engine"] == "metalearners") & fit_rows["config_id"].str.startswith(_SERIAL_PREFIX)]
    if (package["n_cores"] == profiled_cores).any():
        package = package[package["n_cores"] == profiled_cores]
    package_warm = package[~package["cold"]]["wall_s"]
    factor = float(package_warm.median()) / serial_wall if len(package_warm) and serial_wall > 0 else None
    return CostModel(
        scenario_id, learner, base_model, tuple(jobs), glue, cold_extra, serial_wall, factor,
        dict(sorted(fractions.items())), note, profiled_cores,
    )
