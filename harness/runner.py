"""The trial runner: every measurement a command makes goes through here.

:class:`TrialRunner` runs one (engine, scenario, config) trial -- a fresh child
process via :func:`harness.trial.run_trial`, fit 0 cold, then ``values`` warm fits (a
predict runner, ``batch_rows`` given: batches of predict calls, :mod:`harness.workloads.predict`) -- while
holding the host-wide trial lock (:class:`harness.locks.HostTrialLock`), and records
the result, ok or failed, in the store under the command's run. ``sweep`` gives the
repeat number of its plan (and skips a trial a concurrent sweep already recorded);
``tune`` and ``recommend`` take the next free repeat number of the config.
:class:`Measurement` is what the searches see of one trial: its warm fits' figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.config import ParallelConfig
from harness.locks import HostTrialLock
from harness import trial as trial_module  # run_trial looked up per call (tests replace it)
from harness.trial import TrialResult, TrialSpec

if TYPE_CHECKING:  # pragma: no cover
    from harness.store import Store
    from scenarios import Scenario

__all__ = ["DEFAULT_VALUES", "FITS_PER_TRIAL", "Measurement", "TrialRunner", "check_values", "measurement_from_result"]

#: Warm values per trial where neither a preset nor ``--values`` says otherwise: the
#: cold first fit is paid once per process, so a second warm fit costs ~1/3 of a trial
#: and halves the within-process noise of the trial's figure.
DEFAULT_VALUES = 2
#: Fits per trial by default: the cold first fit and the warm values.
FITS_PER_TRIAL = 1 + DEFAULT_VALUES


def check_values(values: int) -> int:
    """``values`` itself when it is an integer >= 1; else a ValueError naming what is allowed."""
    if isinstance(values, bool) or not isinstance(values, int) or values < 1:
        raise ValueError(f"values={values!r} is not allowed; a trial needs at least one warm value (an integer >= 1)")
    return values


@dataclass(frozen=True)
class Measurement:
    """One repeat (trial) of one config: its warm fits' figures, one entry per warm value.

    ``walls``: warm wall-clock seconds; ``cpu``: CPU seconds of the process tree;
    ``mem``: peak memory in MiB (None where the fit was too short to sample);
    ``rmse``: CATE RMSE. ``ok`` False with a ``reason`` for a failed measurement.
    """

    walls: Sequence[float] = ()
    cpu: Sequence[float] = ()
    mem: Sequence[float | None] = ()
    rmse: Sequence[float | None] = ()
    ok: bool = True
    reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("walls", "cpu", "mem", "rmse"):
            object.__setattr__(self, name, [None if v is None else float(v) for v in getattr(self, name)])
        if self.ok and not self.walls:
            object.__setattr__(self, "ok", False)
            object.__setattr__(self, "reason", self.reason or "no warm fit measured")


def measurement_from_result(result: TrialResult) -> Measurement:
    """The warm fits of one trial runner result (the cold warm-up fit left out)."""
    warm = [s for s in result.samples if s.kind == "warm"]
    return Measurement(
        walls=[s.wall_s for s in warm],
        cpu=[s.cpu_s for s in warm],
        mem=[s.peak_mem_mb for s in warm],
        rmse=[s.extras.get("cate_rmse") for s in warm],
        ok=result.ok and bool(warm),
        reason=result.reason if not result.ok else (None if warm else "no warm fit measured"),
    )


class TrialRunner:
    """Runs and records the trials of one workload (engine + scenario).

    ``lock``: the host trial lock to hold around each trial (a new enabled one by
    default; ``HostTrialLock(enabled=False)`` to measure without it). ``values``: warm
    fits after the cold one (``fits``, the total, is the older spelling). ``cores``:
    pin every trial to that many CPUs (``--cores``; repeats are counted per core count). Results are
    recorded in ``store`` under ``run_id`` when both are given; ``results`` keeps
    every result of this runner.
    """

    def __init__(
        self,
        engine: str,
        scenario: Scenario,
        store: Store | None = None,
        run_id: str | None = None,
        *,
        timeout_s: float = 600.0,
        fits: int | None = None,
        mem_interval_s: float | None = None,
        lock: HostTrialLock | None = None,
        values: int | None = None,
        cores: int | None = None,
        batch_rows: int | None = None,
        calls: int | None = None,
    ) -> None:
        if fits is not None and values is not None and fits != values + 1:
            raise ValueError(f"fits={fits} and values={values} disagree; give one (fits = values + 1)")
        if fits is not None and fits < 2:
            raise ValueError(f"fits={fits} is not allowed; a trial needs a cold and at least one warm fit (>= 2)")
        fits = fits if fits is not None else 1 + check_values(values if values is not None else DEFAULT_VALUES)
        self.engine, self.scenario, self.store, self.run_id = engine, scenario, store, run_id
        self.timeout_s, self.fits, self.mem_interval_s = timeout_s, fits, mem_interval_s
        self.values = fits - 1  # warm fits per trial
        self.cores = cores  # --cores: the trials' child pinned to that many CPUs (None: all)
        self.lock = lock if lock is not None else HostTrialLock()
        self.results: list[TrialResult] = []
        self._next_repeat: dict[str, int] | None = None
        # A predict runner (phase "predict"): its configs are PredictConfigs, each value
        # ``calls`` predict calls on ``batch_rows`` rows (harness.workloads.predict).
        self.batch_rows, self.calls = batch_rows, calls
        self.phase = "fit" if batch_rows is None else "predict"

    def spec(self, config: ParallelConfig) -> TrialSpec:
        extra: dict[str, Any] = {} if self.mem_interval_s is None else {"mem_interval_s": self.mem_interval_s}
        params: dict[str, Any] = {"engine": self.engine, "scenario": self.scenario.to_dict(), "config": config.to_dict()}
        if self.phase == "predict":
            params["batch_rows"] = self.batch_rows
            if self.calls is not None:
                params["calls"] = self.calls
        return TrialSpec(
            "grid_search" if self.scenario.grid is not None else "scenario" if self.phase == "fit" else "predict",
            params,
            repeats=self.fits,
            timeout_s=self.timeout_s,
            cores=self.cores,
            **extra,
        )

    def run(self, config: ParallelConfig, repeat: int | None = None) -> TrialResult | None:
        """Measure ``config`` once and record it as ``repeat`` (default: the next free one).

        With an explicit ``repeat`` already in the store (a concurrent sweep recorded
        it meanwhile), nothing runs and None is returned.
        """
        with self.lock.held():
            if repeat is not None and self.store is not None:
                if self.store.has_trial(self.engine, self.scenario.id, config.id, repeat, self.cores,
                                        batch_rows=self.batch_rows):
                    return None
            result = trial_module.run_trial(self.spec(config))
        self.record(config, result, repeat)
        return result

    def record(self, config: ParallelConfig, result: TrialResult, repeat: int | None = None,
               host_manifest: dict[str, Any] | None = None) -> None:
        """Keep a result measured for ``config`` and record it in the store as ``repeat``
        (default: the next free one); ``host_manifest``: the host's, where the trial ran
        on another machine (a cluster, :mod:`harness.cluster`)."""
        self.results.append(result)
        if self.store is not None and self.run_id is not None:
            repeat = self._take_repeat(config.id) if repeat is None else repeat
            self.store.record_trial(self.run_id, self.engine, self.scenario, config, repeat, result,
                                    phase=self.phase, batch_rows=self.batch_rows,
                                    **({"host_manifest": host_manifest} if host_manifest else {}))

    def measure(self, config: ParallelConfig) -> Measurement:
        """One trial of ``config`` (next free repeat) as a :class:`Measurement`."""
        result = self.run(config)
        assert result is not None  # only an explicit repeat can be skipped
        return measurement_from_result(result)

    __call__ = measure

    def _take_repeat(self, config_id: str) -> int:
        if self._next_repeat is None:  # the store is read once per runner
            self._next_repeat = {}
            assert self.store is not None
            done = self.store.done(self.cores) if self.phase == "fit" else {
                (e, s, c, r) for e, s, c, b, r in self.store.done_predict() if b == self.batch_rows
            }
            for engine, scenario_id, cid, repeat in done:
                if engine == self.engine and scenario_id == self.scenario.id:
                    self._next_repeat[cid] = max(self._next_repeat.get(cid, 0), repeat + 1)
        repeat = self._next_repeat.get(config_id, 0)
        self._next_repeat[config_id] = repeat + 1
        return repeat
