"""The sweep's plan: which (engine, scenario, config, repeat) trials it runs, in which order,
and which of them a store does not hold yet.

The configs are :func:`harness.config.config_grid` over the cores (always with the
serial reference; :func:`harness.config.grid_note` says what was left out); a
grid-search scenario's are :func:`harness.grid_configs.grid_config_grid` (four levels). The order
is a randomised complete block design: scenarios one after another in file order;
within a scenario, repeat ``r`` of every (engine, config) in block ``r``, each block
shuffled with the seed and never starting with the config that ended the previous
block. Deterministic for a seed, so a resumed sweep walks the same order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.config import BACKENDS, ParallelConfig, config_grid
from harness.grid_configs import configs_for
from harness.store import Store

__all__ = ["PlannedTrial", "pending", "plan_trials", "sweep_configs"]


def sweep_configs(
    cores: int, levels: list[int] | None = None, backends: tuple[str, ...] = BACKENDS, oversubscribe: float = 1.0
) -> list[ParallelConfig]:
    """The configs a sweep measures on ``cores`` (the grid, the serial reference always in it)."""
    return config_grid(cores, levels, backends, oversubscribe)


@dataclass(frozen=True)
class PlannedTrial:
    engine: str
    scenario: Any  # scenarios.Scenario
    config: Any  # ParallelConfig; a PredictConfig for a predict trial
    repeat: int
    batch_rows: int | None = None  # a predict trial's batch (harness.sweep_predict)

    @property
    def key(self) -> tuple:
        """The store's identity of a measurement (see :meth:`Store.done`, :meth:`Store.done_predict`)."""
        if self.batch_rows is not None:
            return (self.engine, self.scenario.id, self.config.id, self.batch_rows, self.repeat)
        return (self.engine, self.scenario.id, self.config.id, self.repeat)


def plan_trials(
    scenarios: Sequence[Any],
    engines: Sequence[str],
    configs: Sequence[ParallelConfig],
    repeats: int,
    seed: int,
    grid_configs: Sequence[ParallelConfig] | None = None,
) -> list[PlannedTrial]:
    """Every (engine, scenario, config, repeat) in sweep order (see the module docstring).

    Deterministic for a given seed, so a resumed sweep walks the same order. A grid
    scenario is measured at ``grid_configs`` (:func:`harness.grid_configs.configs_for`).
    """
    rng = random.Random(seed)
    plan: list[PlannedTrial] = []
    for scenario in scenarios:
        cells = [(engine, config) for engine in engines for config in configs_for(scenario, engine, configs, grid_configs)]
        previous = None
        for repeat in range(repeats):
            block = cells[:]
            rng.shuffle(block)
            if len(block) > 1 and block[0] == previous:  # no repeat back to back across blocks
                j = rng.randrange(1, len(block))
                block[0], block[j] = block[j], block[0]
            previous = block[-1]
            plan += [PlannedTrial(engine, scenario, config, repeat) for engine, config in block]
    return plan


def pending(plan: Sequence[PlannedTrial], store: Store, cores: int | None = None) -> list[PlannedTrial]:
    """The planned trials the store does not hold yet (it is read once, not per trial;
    with ``cores``: fit trials not yet on that many cores, a ``--cores`` sweep's)."""
    done = store.done(cores) | store.done_predict()  # 4-tuples (fit) and 5-tuples (predict) never meet
    return [t for t in plan if t.key not in done]
