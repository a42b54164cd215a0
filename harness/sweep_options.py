"""The sweep's options: :class:`SweepOptions` (every setting of ``python -m harness sweep``,
validated at construction with one line per mistake, filled from the parsed arguments
and the preset's ``[sweep]`` settings, and the command line that repeats it), with the
sweep's defaults. :mod:`harness.sweep` runs a sweep with them."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import BACKENDS
from harness.cores import check_cores
from harness.engines import check_engine
from harness.errors import UsageError, user_input
from harness.paths import db_path
from harness.runner import DEFAULT_VALUES, check_values

__all__ = ["DEFAULT_MEM_INTERVAL_S", "DEFAULT_PRESET", "DEFAULT_REPEATS", "DEFAULT_VALUES", "SweepOptions"]

DEFAULT_PRESET = "default"
DEFAULT_REPEATS = 3
#: Seconds between memory samples of a trial's tree: at 0.025 s the supervisor's PSS
#: sampling of a trial with loky workers costs ~40% of a core, at 0.1 s ~8%.
DEFAULT_MEM_INTERVAL_S = 0.1



@dataclass(frozen=True)
class SweepOptions:
    """What one sweep measures, validated (:meth:`from_args` fills the preset's ``[sweep]``
    settings where the command line left them unset)."""

    db: Path
    preset: str | None = DEFAULT_PRESET
    scenarios_file: str | None = None
    engines: tuple[str, ...] = ("core",)
    repeats: int = DEFAULT_REPEATS
    values: int = DEFAULT_VALUES
    levels: tuple[int, ...] | None = None
    backends: tuple[str, ...] = BACKENDS
    oversubscribe: float = 1.0
    timeout_s: float = 600.0
    seed: int = 0
    mem_interval_s: float = DEFAULT_MEM_INTERVAL_S
    report: bool = True
    cores: tuple[int, ...] | None = None  # --cores: one sweep per core count, trials pinned to it
    cluster: str | None = None  # a Dask scheduler address or local:N (harness.cluster)
    #: "predict": the predict workload (harness.sweep_predict) on ``batches`` rows per call.
    phase: str = "fit"
    batches: tuple[int, ...] | None = None
    predict_configs: tuple[str, ...] | None = None  # ids; None: the whole predict grid

    def __post_init__(self) -> None:
        if self.phase not in ("fit", "predict"):
            raise UsageError(f"--phase {self.phase}: is not allowed; choose fit or predict")
        if self.batches is not None:
            from harness.sweep_predict import check_batches

            with user_input():
                object.__setattr__(self, "batches", check_batches(self.batches))
        if self.predict_configs is not None:
            from harness.predict_config import PredictConfig

            with user_input("[sweep] predict_configs: "):
                for config_id in self.predict_configs:
                    PredictConfig.from_id(config_id)
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise UsageError(f"--repeats {self.repeats}: is not allowed; use an integer >= 1")
        with user_input("--values: "):
            check_values(self.values)
        for flag, value in (("--timeout", self.timeout_s), ("--mem-interval", self.mem_interval_s),
                            ("--oversubscribe", self.oversubscribe)):
            if not value > 0:
                raise UsageError(f"{flag} {value}: is not allowed; use a number > 0")
        if not self.engines:
            raise UsageError("--engine: no engine given")
        with user_input("--engine: "):
            for engine in self.engines:
                check_engine(engine)
        bad = [b for b in self.backends if b not in BACKENDS]
        if bad or not self.backends:
            raise UsageError(f"--backends {','.join(self.backends)}: choose from {', '.join(BACKENDS)}")
        if self.levels is not None and (not self.levels or any(v < 1 for v in self.levels)):
            raise UsageError(f"--levels {list(self.levels)}: use integers >= 1")
        db_path(self.db, must_exist=False)  # one line for a directory, a file as parent
        check_cores(list(self.cores) if self.cores else None)
        if self.cluster is not None:
            from harness.cluster import parse_address

            parse_address(self.cluster)
            if self.cores or self.phase != "fit":
                raise UsageError("--cluster with --cores or --phase predict: not supported yet (a cluster runs fit sweeps"
                                 " on its hosts' own cores)")

    @classmethod
    def from_args(cls, args: Any) -> SweepOptions:
        """From ``python -m harness sweep``'s parsed arguments (preset settings filled in)."""
        from scenarios import sweep_settings

        scenarios_file = getattr(args, "scenarios", None)
        if scenarios_file and not Path(scenarios_file).is_file():
            raise UsageError(f"--scenarios {scenarios_file}: no such file")
        preset = None if scenarios_file else (getattr(args, "preset", None) or DEFAULT_PRESET)
        with user_input():
            settings = sweep_settings(os.path.abspath(scenarios_file) if scenarios_file else preset)
        pick = lambda name, default: default if getattr(args, name, None) is None else getattr(args, name)  # noqa: E731
        phase = getattr(args, "phase", None) or "fit"
        engines = getattr(args, "engine", None) or _default_engines(phase)
        engines = engines if not isinstance(engines, str) else engines.split(",")
        levels = pick("levels", settings.get("levels"))
        if phase == "predict":  # the preset's predict settings, where it has them
            from harness.sweep_predict import DEFAULT_BATCHES

            settings = {**settings, **{k: settings[f"predict_{k}"] for k in ("repeats", "values") if f"predict_{k}" in settings}}
            batches = pick("batch", settings.get("predict_batches", DEFAULT_BATCHES))
            predict_configs = settings.get("predict_configs")
        else:
            batches = predict_configs = None
        return cls(
            phase=phase,
            predict_configs=tuple(predict_configs) if predict_configs else None,
            batches=tuple(batches) if batches is not None else None,
            db=Path(args.db),
            preset=preset,
            scenarios_file=str(scenarios_file) if scenarios_file else None,
            engines=tuple(dict.fromkeys(engines)),
            repeats=pick("repeats", settings.get("repeats", DEFAULT_REPEATS)),
            values=pick("values", settings.get("values", DEFAULT_VALUES)),
            levels=tuple(levels) if levels is not None else None,
            backends=tuple(pick("backends", settings.get("backends", BACKENDS))),
            oversubscribe=args.oversubscribe,
            timeout_s=args.timeout,
            seed=args.seed,
            mem_interval_s=pick("mem_interval", DEFAULT_MEM_INTERVAL_S),
            report=not getattr(args, "no_report", False),
            cores=tuple(args.cores) if getattr(args, "cores", None) else None,
            cluster=getattr(args, "cluster", None),
        )

    @property
    def source(self) -> str:
        """The preset name or the scenarios file, as given."""
        return self.scenarios_file or str(self.preset)

    def load_scenarios(self) -> list[Any]:
        from scenarios import load_preset

        with user_input():
            return load_preset(os.path.abspath(self.scenarios_file) if self.scenarios_file else self.preset)

    @property
    def command(self) -> str:
        """The sweep as a command line (canonical: also when called in-process)."""
        parts = ["python", "-m", "harness", "sweep"]
        parts += ["--scenarios", self.scenarios_file] if self.scenarios_file else ["--preset", str(self.preset)]
        parts += ["--db", str(self.db), "--repeats", str(self.repeats), "--values", str(self.values)]
        parts += ["--timeout", f"{self.timeout_s:g}"]
        parts += ["--engine", ",".join(self.engines)]
        if self.levels:
            parts += ["--levels", ",".join(map(str, self.levels))]
        parts += ["--backends", ",".join(self.backends)]
        parts += ["--oversubscribe", f"{self.oversubscribe:g}", "--seed", str(self.seed)]
        parts += ["--mem-interval", f"{self.mem_interval_s:g}"]
        if self.cores:
            parts += ["--cores", ",".join(map(str, self.cores))]
        if not self.report:
            parts.append("--no-report")
        if self.cluster:
            parts += ["--cluster", self.cluster]
        if self.phase == "predict":
            parts += ["--phase", "predict", "--batch", ",".join(map(str, self.batches or ()))]
        return shlex.join(parts)


def _default_engines(phase: str) -> list[str]:
    """core; for the predict phase also the metalearners package where it is installed
    (its predict is the reference the parallel prediction is measured against)."""
    import importlib.util

    if phase == "predict" and importlib.util.find_spec("metalearners") is not None:
        return ["core", "metalearners"]
    return ["core"]
