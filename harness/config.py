"""A parallel configuration: how one fit splits the cores over the three levels (and a grid
search, over a fourth: ``n_jobs_grid``, the grid points at once).

Besides joblib's ``loky`` and ``threading`` backends, ``dask<N>`` (e.g. ``dask2``)
runs the fit under ``joblib.parallel_config(backend="dask")`` on a ``local:N`` Dask
cluster (N worker processes sharing the cores) started inside the trial child
(:func:`harness.pools.local_dask_cluster`): the node level, measured on one machine.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any

BACKENDS = ("loky", "threading")
AUTO = "auto"  # as a backend: metalearners_core's scheduler splits the cores itself
DASK = "dask"  # + a worker count: a local Dask cluster of that many worker processes (e.g. "dask2")
_DASK_BACKEND = re.compile(rf"{DASK}([1-9][0-9]*)")
#: The three levels as ParallelConfig fields (and store / export columns).
LEVELS = ("model_n_jobs", "n_jobs_cross_fitting", "n_jobs_base_learners")
#: The grid search's level: grid points in flight (a ParallelConfig field and store column).
GRID_LEVEL = "n_jobs_grid"
_FIELDS = {
    "grid": GRID_LEVEL,
    "model": "model_n_jobs",
    "folds": "n_jobs_cross_fitting",
    "stage": "n_jobs_base_learners",
    "backend": "backend",
}


def dask_workers(backend: str) -> int | None:
    """The worker processes of a ``dask<N>`` backend's local cluster; None for any other backend."""
    match = _DASK_BACKEND.fullmatch(backend) if isinstance(backend, str) else None
    return int(match.group(1)) if match else None


def is_backend(name: str) -> bool:
    """A backend a config may name: joblib's (:data:`BACKENDS`) or ``dask<N>`` (N >= 1)."""
    return name in BACKENDS or dask_workers(name) is not None


def _check_level(value: Any, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; use None (library default) or an int >= 1.")


@dataclass(frozen=True)
class ParallelConfig:
    """Model-level threads, fold-level and stage-level workers, and the joblib backend.

    ``None`` at a level means the library's default there (for metalearners_core's
    model level: the cores left per concurrent fit, set explicitly; for the
    metalearners package: the base model's own default). ``n_jobs_grid`` is the grid
    search's ``n_jobs`` (grid-search scenarios only; ``None`` there is the library's
    default, and on a plain fit the field is unset): set, the id starts ``g<n>-``.
    """

    model_n_jobs: int | None = None
    n_jobs_cross_fitting: int | None = None
    n_jobs_base_learners: int | None = None
    backend: str = "loky"
    n_jobs_grid: int | None = None

    def __post_init__(self) -> None:
        _check_level(self.n_jobs_grid, "n_jobs_grid")
        _check_level(self.model_n_jobs, "model_n_jobs")
        _check_level(self.n_jobs_cross_fitting, "n_jobs_cross_fitting")
        _check_level(self.n_jobs_base_learners, "n_jobs_base_learners")
        if not is_backend(self.backend) and self.backend != AUTO:
            sequential = " (joblib's 'sequential' is the serial config: folds=1,stage=1)" if self.backend == "sequential" else ""
            raise ValueError(
                f"backend={self.backend!r} is not allowed; choose one of {', '.join((*BACKENDS, AUTO))} or "
                f"{DASK}<N> (a local Dask cluster of N worker processes, e.g. {DASK}2){sequential}."
            )
        if self.is_auto and (self.model_n_jobs, self.n_jobs_cross_fitting, self.n_jobs_base_learners, self.n_jobs_grid) != (None,) * 4:
            raise ValueError("the 'auto' config chooses every level itself; leave grid, model, folds and stage unset.")

    @classmethod
    def auto(cls) -> ParallelConfig:
        """metalearners_core's ``"auto"``: its scheduler picks workers, threads and backend."""
        return cls(backend=AUTO)

    @property
    def is_auto(self) -> bool:
        return self.backend == AUTO

    @property
    def dask_workers(self) -> int | None:
        """The local Dask cluster's worker processes of a ``dask<N>`` config, else None."""
        return dask_workers(self.backend)

    @property
    def is_default(self) -> bool:
        return self == ParallelConfig()

    @property
    def is_serial(self) -> bool:
        """One thread per model, no worker pool (``m1-f1-s1-*``, ``g1-m1-f1-s1-*`` in a grid
        search): the speed-up reference."""
        levels = (self.model_n_jobs, self.n_jobs_cross_fitting, self.n_jobs_base_learners)
        return levels == (1, 1, 1) and self.n_jobs_grid in (None, 1)

    def model_threads(self, cores: int) -> int:
        """Threads inside each base model on ``cores``: the explicit model level, else
        what metalearners_core sets for the library default (the cores left per worker)."""
        return self.model_n_jobs or max(1, cores // self.pool_workers)

    @property
    def id(self) -> str:
        """A short stable name, e.g. ``m2-f1-s1-loky`` ("d" marks a library default)."""
        if self.is_default:
            return "default"
        if self.is_auto:
            return AUTO
        level = lambda v: "d" if v is None else str(v)  # noqa: E731
        grid = "" if self.n_jobs_grid is None else f"g{self.n_jobs_grid}-"  # unset: every fit's id as it was
        return grid + (
            f"m{level(self.model_n_jobs)}-f{level(self.n_jobs_cross_fitting)}"
            f"-s{level(self.n_jobs_base_learners)}-{self.backend}"
        )

    @property
    def pool_workers(self) -> int:
        """Worker processes/threads the fold and stage levels (and the grid level) ask for together."""
        return (self.n_jobs_cross_fitting or 1) * (self.n_jobs_base_learners or 1) * (self.n_jobs_grid or 1)

    def total_threads(self, cores: int) -> int:
        """Threads the config asks for at once (the library default model level: cores / pool)."""
        if self.is_auto:
            return cores
        return self.model_threads(cores) * self.pool_workers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParallelConfig:
        unknown = set(d) - {f for f in _FIELDS.values()}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; allowed: {sorted(_FIELDS.values())}")
        return cls(**d)

    @classmethod
    def from_id(cls, config_id: str) -> ParallelConfig:
        """The config of an :attr:`id` (``default``, ``auto`` or ``m2-f1-sd-loky``)."""
        if config_id in ("default", AUTO):
            return cls.parse(config_id)
        grid: int | None = None
        head, sep, rest = config_id.partition("-")
        if sep and head[:1] == "g" and head[1:].isdigit():  # a grid search's config: g2-m1-f1-s1-loky
            grid, config_id = int(head[1:]), rest
            if config_id in ("default", AUTO) or rest.count("-") != 3:
                raise ValueError(f"config id {head}-{rest!r}: a grid level goes before m/f/s levels (e.g. 'g2-m1-f1-s1-loky').")
        parts = config_id.split("-")
        if len(parts) != 4 or [p[:1] for p in parts[:3]] != ["m", "f", "s"]:
            raise ValueError(f"config id {config_id!r} is not allowed; use 'default', 'auto' or e.g. 'm2-f1-s1-loky'.")
        try:
            levels = [None if p[1:] == "d" else int(p[1:]) for p in parts[:3]]
        except ValueError:
            raise ValueError(f"config id {config_id!r}: levels are integers or 'd' (e.g. 'm2-f1-sd-loky').") from None
        return cls(*levels, backend=parts[3], n_jobs_grid=grid)

    @classmethod
    def parse(cls, text: str) -> ParallelConfig:
        """``default``, ``auto`` or ``model=2,folds=1,stage=1,backend=loky`` (omitted: library default);
        a grid search's ``grid=2,...`` too."""
        text = text.strip()
        if text == "default":
            return cls()
        if text == AUTO:
            return cls.auto()
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in _FIELDS:
                raise ValueError(
                    f"config part {part!r} is not allowed; use 'default', 'auto' or comma-separated "
                    f"{'=, '.join(_FIELDS)}= (e.g. model=2,folds=1,stage=1,backend=loky)."
                )
            field_name, value = _FIELDS[key.strip()], value.strip()
            if field_name == "backend":
                values[field_name] = value
            elif value in ("", "default", "none", "None"):
                values[field_name] = None
            else:
                try:
                    values[field_name] = int(value)
                except ValueError:
                    raise ValueError(f"{key}={value!r} is not allowed; use an int >= 1 or 'default'.") from None
        return cls(**values)


def powers_of_two_up_to(cores: int) -> list[int]:
    """1, 2, 4, ... up to ``cores``, plus ``cores`` itself."""
    values, v = [], 1
    while v < cores:
        values.append(v)
        v *= 2
    return sorted(set(values + [cores]))


def config_grid(
    cores: int,
    levels: list[int] | None = None,
    backends: tuple[str, ...] = BACKENDS,
    max_oversubscription: float = 1.0,
    include_default: bool = True,
    include_auto: bool = True,
) -> list[ParallelConfig]:
    """Every split of the cores over the three levels (+ backend), the library default
    and ``auto`` first (engines without ``auto`` skip it: :func:`harness.engines.supports`),
    and always the serial config ``m1-f1-s1`` (the reference of every speed-up), also
    when ``levels`` lacks 1.

    Configs asking for more than ``max_oversubscription x cores`` threads are left out
    (:func:`grid_note` says which); configs without a worker pool get one backend only
    (it would not matter).
    """
    levels = levels or powers_of_two_up_to(cores)
    grid = [ParallelConfig()] if include_default else []
    grid += [ParallelConfig.auto()] if include_auto else []
    if 1 not in levels:  # where levels hold 1 the serial config is in the product, in its place
        grid.append(serial_config(backends))
    for model, folds, stage in itertools.product(levels, repeat=3):
        if model * folds * stage > max_oversubscription * cores:
            continue
        pool_backends = backends if folds * stage > 1 else backends[:1]
        grid += [ParallelConfig(model, folds, stage, backend) for backend in pool_backends]
    return list(dict.fromkeys(grid))


def serial_config(backends: tuple[str, ...] = BACKENDS) -> ParallelConfig:
    """``m1-f1-s1`` with the first backend (without a pool the backend does not matter)."""
    return ParallelConfig(1, 1, 1, backends[0] if backends else BACKENDS[0])


def left_out_configs(
    cores: int, levels: list[int] | None = None, backends: tuple[str, ...] = BACKENDS, max_oversubscription: float = 1.0
) -> list[ParallelConfig]:
    """The splits of ``levels`` that :func:`config_grid` leaves out: more threads than
    ``max_oversubscription x cores``."""
    levels = levels or powers_of_two_up_to(cores)
    out = []
    for model, folds, stage in itertools.product(levels, repeat=3):
        if model * folds * stage > max_oversubscription * cores:
            pool_backends = backends if folds * stage > 1 else backends[:1]
            out += [ParallelConfig(model, folds, stage, backend) for backend in pool_backends]
    return list(dict.fromkeys(out))


def grid_note(
    cores: int, levels: list[int] | None = None, backends: tuple[str, ...] = BACKENDS, max_oversubscription: float = 1.0
) -> str | None:
    """One line saying which configs of ``levels`` the grid leaves out and why, and that
    the serial reference was added where ``levels`` lacks 1; None when neither happened."""
    parts = []
    dropped = left_out_configs(cores, levels, backends, max_oversubscription)
    if dropped:
        shown = ", ".join(c.id for c in dropped[:6]) + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else "")
        parts.append(
            f"left out {len(dropped)} configs asking for more than {max_oversubscription:g} x {cores} cores in threads"
            f" ({shown}; --oversubscribe keeps them)"
        )
    if levels and 1 not in levels:
        parts.append(f"added {serial_config(backends).id}, the serial reference of every speed-up")
    if not parts:
        return None
    what = f"--levels {','.join(map(str, levels))}" if levels else "the default levels"
    return f"{what} on {cores} cores: " + "; ".join(parts)
