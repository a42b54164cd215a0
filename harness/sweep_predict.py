"""The predict sweep's plan: which (engine, scenario, predict config, batch size, repeat) trials
``python -m harness sweep --phase predict`` runs, in which order.

The configs are :func:`harness.predict_config.predict_config_grid` over the cores
(the serial reference ``p-serial`` always in it); the metalearners engine predicts
serially, so it gets ``p-serial`` only. The batch sizes come from ``--batch``, the
preset's ``[sweep] predict_batches``, else :data:`DEFAULT_BATCHES`. The order is the
fit sweep's randomised complete block design (:mod:`harness.sweep_plan`): scenarios one
after another; within a scenario, repeat ``r`` of every (engine, config, batch) in
block ``r``, each block shuffled with the seed. The sweep itself is :mod:`harness.sweep`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from harness.predict_config import PredictConfig, predict_config_grid, supports_predict
from harness.sweep_plan import PlannedTrial

__all__ = ["DEFAULT_BATCHES", "check_batches", "plan_predict_trials", "predict_sweep_configs"]

#: Batch sizes of a predict sweep where neither ``--batch`` nor the preset says: one
#: row (latency), a small batch, and a large one (throughput).
DEFAULT_BATCHES = (1, 100, 10_000)


def check_batches(batches: Sequence[Any]) -> tuple[int, ...]:
    """The batch sizes as a tuple of distinct ints >= 1; a ValueError naming a bad one."""
    if not batches:
        raise ValueError("--batch: no batch size given; use e.g. --batch 1,100,10000")
    for b in batches:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"--batch {b!r}: is not allowed; batch sizes are integers >= 1 (rows per predict call)")
    return tuple(dict.fromkeys(batches))


def predict_sweep_configs(cores: int, config_ids: Sequence[str] | None = None) -> list[PredictConfig]:
    """The predict configs a sweep measures on ``cores``: the grid, or the preset's
    ``predict_configs`` ids; the serial reference ``p-serial`` always among them (the
    speed-ups divide it, and it is the package's one config)."""
    if not config_ids:
        return predict_config_grid(cores)
    configs = [PredictConfig.from_id(i) for i in config_ids]
    return list(dict.fromkeys([PredictConfig(), *configs]))


def plan_predict_trials(
    scenarios: Sequence[Any],
    engines: Sequence[str],
    configs: Sequence[PredictConfig],
    batches: Sequence[int],
    repeats: int,
    seed: int,
) -> list[PlannedTrial]:
    """Every (engine, scenario, config, batch, repeat) in sweep order (see the module);
    deterministic for a seed, so a resumed sweep walks the same order."""
    rng = random.Random(seed)
    plan: list[PlannedTrial] = []
    for scenario in scenarios:
        cells = [
            (engine, config, batch)
            for engine in engines for config in configs if supports_predict(engine, config) for batch in batches
        ]
        previous = None
        for repeat in range(repeats):
            block = cells[:]
            rng.shuffle(block)
            if len(block) > 1 and block[0] == previous:
                j = rng.randrange(1, len(block))
                block[0], block[j] = block[j], block[0]
            previous = block[-1]
            plan += [PlannedTrial(engine, scenario, config, repeat, batch) for engine, config, batch in block]
    return plan
