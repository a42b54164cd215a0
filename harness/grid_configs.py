"""The configs of a grid-search scenario: the grid level (``n_jobs`` of the search) over the three of every fit.

A grid scenario (:mod:`scenarios.grid`) is measured over four levels: ``n_jobs_grid``
(grid points in flight), the model threads (through each class's thread keyword in
the param grid), ``n_jobs_cross_fitting`` and ``n_jobs_base_learners`` (the learners'
``fit`` keywords the search passes on), and the backend. :func:`grid_config_grid` is
the grid of :func:`harness.config.config_grid` with the fourth level: the library
default, ``auto``, the serial reference ``g1-m1-f1-s1``, the search's own ``n_jobs``
with every fit at the library default (``g2-md-fd-sd-loky``: what a user of the
package writes), and every split of the cores over the four levels.

The metalearners engine runs the package's ``MetaLearnerGridSearch``, whose
documented knob is its ``n_jobs``: it gets the library default, ``g<n>`` with the
fits at their defaults, and the serial reference (:func:`supports_grid`); the splits
inside its fits and ``auto`` are core's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from harness.config import BACKENDS, ParallelConfig, powers_of_two_up_to

__all__ = ["configs_for", "grid_config_grid", "grid_serial_config", "supports_grid"]


def grid_serial_config(backends: Sequence[str] = BACKENDS) -> ParallelConfig:
    """``g1-m1-f1-s1``: one grid point, one model thread, no pool (the grid's speed-up reference)."""
    return ParallelConfig(1, 1, 1, backends[0] if backends else BACKENDS[0], n_jobs_grid=1)


def grid_config_grid(
    cores: int,
    levels: list[int] | None = None,
    backends: Sequence[str] = BACKENDS,
    max_oversubscription: float = 1.0,
    include_default: bool = True,
    include_auto: bool = True,
) -> list[ParallelConfig]:
    """The configs of a grid scenario on ``cores`` (see the module), deduplicated, in order."""
    levels = levels or powers_of_two_up_to(cores)
    backends = tuple(backends) or BACKENDS
    grid = [ParallelConfig()] if include_default else []
    grid += [ParallelConfig.auto()] if include_auto else []
    grid.append(grid_serial_config(backends))
    grid += [ParallelConfig(n_jobs_grid=n, backend=backends[0]) for n in levels if 1 < n <= max_oversubscription * cores]
    for n_grid, model, folds, stage in itertools.product(levels, repeat=4):
        if n_grid * model * folds * stage > max_oversubscription * cores:
            continue
        pool_backends = backends if n_grid * folds * stage > 1 else backends[:1]
        grid += [ParallelConfig(model, folds, stage, backend, n_jobs_grid=n_grid) for backend in pool_backends]
    return list(dict.fromkeys(grid))


def supports_grid(engine: str, config: ParallelConfig) -> bool:
    """Whether ``engine``'s grid search can run ``config`` (see the module)."""
    if engine == "core":
        return True
    if config.is_auto:
        return False
    fits_at_default = (config.model_n_jobs, config.n_jobs_cross_fitting, config.n_jobs_base_learners) == (None,) * 3
    return config.is_serial or (fits_at_default and config.backend == BACKENDS[0])


def configs_for(scenario: object, engine: str, configs: Sequence[ParallelConfig],
                grid_configs: Sequence[ParallelConfig] | None) -> list[ParallelConfig]:
    """The configs ``engine`` measures ``scenario`` at: ``grid_configs`` it supports for a grid
    scenario, else the fit ``configs`` (:func:`harness.engines.supports`) without a grid level."""
    from harness.engines import supports

    if getattr(scenario, "grid", None) is not None:
        return [c for c in (grid_configs or ()) if supports_grid(engine, c)]
    return [c for c in configs if c.n_jobs_grid is None and supports(engine, c)]
