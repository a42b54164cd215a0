"""The search space of a tune study: the feasible configs, the baselines, the objectives.

Only feasible configs are listed (:func:`search_space`, from
:func:`harness.config.config_grid` plus the baselines), and each trial suggests one
categorical parameter ``config`` over their ids, so an infeasible combination of the
levels can never be sampled. A grid-search scenario's space has the grid level too
(:func:`grid_search_space`). Also the study's name and storage URL conventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.config import BACKENDS, ParallelConfig, config_grid
from harness.engines import supports
from harness.errors import UsageError

__all__ = [
    "DASHBOARD_HINT",
    "OBJECTIVES",
    "PARAM",
    "baseline_configs",
    "default_study_name",
    "grid_baseline_configs",
    "grid_search_space",
    "is_feasible",
    "parse_objectives",
    "search_space",
    "sqlite_url",
]

DASHBOARD_HINT = (
    "open a study in optuna-dashboard: "
    "pip install optuna-dashboard && optuna-dashboard sqlite:///results/harness.db"
)
#: objective name -> (metric name shown by Optuna, what it is)
OBJECTIVES: dict[str, str] = {
    "wall": "wall_s",  # median warm wall-clock seconds of the fit
    "cpu": "cpu_s",  # median CPU seconds of the whole process tree over the fit
    "memory": "peak_mem_mb",  # median peak memory of the process tree (MiB)
}
PARAM = "config"  # the one categorical parameter of every study
DEFAULT_PRUNE_RATIO = 1.5


def is_feasible(config: ParallelConfig, cores: int, max_oversubscription: float = 1.0) -> bool:
    """Asks for at most ``max_oversubscription x cores`` threads at once."""
    return config.total_threads(cores) <= max_oversubscription * cores


def baseline_configs(cores: int, backends: Sequence[str] = BACKENDS, engine: str = "core") -> list[ParallelConfig]:
    """The library's own ``auto`` split where the engine has one, then serial, all cores
    at the model level and the library default (deduplicated, in that order).

    ``auto`` comes first: it is what a user gets without tuning, the strongest prior,
    and a study that never measured it could not say whether tuning beats it.
    """
    backend = backends[0] if backends else "loky"
    configs = [ParallelConfig.auto()] if supports(engine, ParallelConfig.auto()) else []
    configs += [ParallelConfig(1, 1, 1, backend), ParallelConfig(cores, 1, 1, backend), ParallelConfig()]
    return list(dict.fromkeys(configs))


def search_space(
    cores: int,
    levels: list[int] | None = None,
    backends: Sequence[str] = BACKENDS,
    max_oversubscription: float = 1.0,
) -> list[ParallelConfig]:
    """The feasible configs: :func:`config_grid` plus the baselines where it lacks them."""
    grid = config_grid(cores, levels, tuple(backends), max_oversubscription, include_default=True)
    space = list(dict.fromkeys([*grid, *baseline_configs(cores, backends)]))
    bad = [c.id for c in space if not is_feasible(c, cores, max(max_oversubscription, 1.0))]
    if bad:  # pragma: no cover - config_grid already filters; a guard against drift
        raise ValueError(f"infeasible configs in the search space: {bad}")
    return space


def grid_baseline_configs(cores: int, backends: Sequence[str] = BACKENDS, engine: str = "core") -> list[ParallelConfig]:
    """A grid scenario's baselines (those of :func:`baseline_configs` with the grid level):
    ``auto`` where the engine has it, serial ``g1-m1-f1-s1``, the search's ``n_jobs`` at all
    cores with every fit at its default (the package's own knob), and the library default."""
    from harness.grid_configs import grid_serial_config, supports_grid

    backend = backends[0] if backends else "loky"
    configs = [ParallelConfig.auto(), grid_serial_config(backends)]
    configs += [ParallelConfig(n_jobs_grid=cores, backend=backend)] if cores > 1 else []
    configs.append(ParallelConfig())
    return [c for c in dict.fromkeys(configs) if supports_grid(engine, c)]


def grid_search_space(
    cores: int,
    levels: list[int] | None = None,
    backends: Sequence[str] = BACKENDS,
    max_oversubscription: float = 1.0,
    engine: str = "core",
) -> list[ParallelConfig]:
    """A grid scenario's feasible configs: the four levels (:func:`harness.grid_configs.grid_config_grid`)
    plus the baselines, those the engine's grid search can run."""
    from harness.grid_configs import grid_config_grid, supports_grid

    grid = grid_config_grid(cores, levels, tuple(backends), max_oversubscription)
    space = list(dict.fromkeys([*grid, *grid_baseline_configs(cores, backends, engine)]))
    return [c for c in space if supports_grid(engine, c) and is_feasible(c, cores, max(max_oversubscription, 1.0))]


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """``wall``, ``wall,cpu`` or ``wall,memory``."""
    names = tuple(n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip())
    allowed = ("wall",), ("wall", "cpu"), ("wall", "memory")
    if names not in allowed:
        raise UsageError(
            f"objectives {','.join(names) or text!r} are not allowed; use one of "
            + ", ".join(",".join(a) for a in allowed)
        )
    return names


def default_study_name(engine: str, scenario_id: str, objectives: Sequence[str] = ("wall",),
                       batch_rows: int | None = None) -> str:
    name = f"tune:{engine}:{scenario_id}" + ("" if batch_rows is None else f":predict-{batch_rows}rows")
    return name if tuple(objectives) == ("wall",) else f"{name}:{','.join(objectives)}"


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file (absolute, so that it does not depend on the cwd)."""
    return "sqlite:///" + str(Path(path).resolve())
