"""A predict configuration: how one ``predict`` call splits the cores, and the predict grid.

The fit's :class:`harness.config.ParallelConfig` says how a *fit* splits the cores;
:class:`PredictConfig` says how a *prediction* does: metalearners_core's ``n_jobs``
of ``predict`` (``None``: serial in the calling thread, as the package; an int: that
many workers; ``"auto"``), the ``predict_split`` setting (``"both"``, ``"rows"`` or
``"models"``), an explicit joblib backend (``None``: the library picks), and the
threads of each base model where the prediction is serial (``model_threads``: the
fitted models' own ``n_jobs``, set untimed before the calls). Ids start with ``p-``,
so they never collide with a fit config's id, and round-trip through :meth:`from_id`
(``p-serial``, ``p-serial-t2``, ``p-n2-rows``, ``p-n2-both-loky``, ``p-auto``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PREDICT_SPLITS", "PredictConfig", "predict_config_grid", "serial_predict_config"]

AUTO = "auto"
PREDICT_SPLITS = ("both", "rows", "models")
PREDICT_BACKENDS = ("threading", "loky")
_DEFAULT_SPLIT = "both"


@dataclass(frozen=True)
class PredictConfig:
    """``n_jobs`` of the predict call, the ``predict_split`` setting, an explicit backend
    (None: the library's choice) and the models' own threads for a serial call."""

    n_jobs: int | str | None = None
    split: str = _DEFAULT_SPLIT
    backend: str | None = None
    model_threads: int | None = None

    def __post_init__(self) -> None:
        n = self.n_jobs
        if not (n is None or n == AUTO or (isinstance(n, int) and not isinstance(n, bool) and n >= 1)):
            raise ValueError(f"predict n_jobs={n!r} is not allowed; use None (serial), an int >= 1 or 'auto'.")
        if self.split not in PREDICT_SPLITS:
            raise ValueError(f"predict split={self.split!r} is not allowed; choose one of {', '.join(PREDICT_SPLITS)}.")
        if self.backend is not None and self.backend not in PREDICT_BACKENDS:
            raise ValueError(f"predict backend={self.backend!r} is not allowed; choose one of {', '.join(PREDICT_BACKENDS)}.")
        t = self.model_threads
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise ValueError(f"predict model_threads={t!r} is not allowed; use None or an int >= 1.")
        if t is not None and self.has_pool:
            raise ValueError("model_threads is for a serial prediction; with workers the library sets cores // workers.")
        if not self.has_pool and (self.split != _DEFAULT_SPLIT or self.backend is not None):
            raise ValueError("a serial prediction has no split or backend; give them only with n_jobs >= 2.")

    @property
    def has_pool(self) -> bool:
        """Whether the call may start workers (an int >= 2, or ``"auto"``)."""
        return self.n_jobs == AUTO or (isinstance(self.n_jobs, int) and self.n_jobs > 1)

    @property
    def is_auto(self) -> bool:
        return self.n_jobs == AUTO

    @property
    def is_serial(self) -> bool:
        """Serial, one thread per model: the reference of every predict speed-up."""
        return not self.has_pool and (self.model_threads or 1) == 1

    @property
    def id(self) -> str:
        if self.is_auto:
            return "p-auto"
        if not self.has_pool:
            return "p-serial" + (f"-t{self.model_threads}" if self.model_threads and self.model_threads > 1 else "")
        return f"p-n{self.n_jobs}-{self.split}" + (f"-{self.backend}" if self.backend else "")

    # The fit config's columns in the store (harness_trials): the predict config
    # fills them so a predict trial is stored like any other (its id says the rest).
    @property
    def model_n_jobs(self) -> int | None:
        return self.model_threads

    n_jobs_cross_fitting = None
    n_jobs_base_learners = None

    @property
    def backend_name(self) -> str:
        return self.backend or "library"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PredictConfig:
        allowed = {"n_jobs", "split", "backend", "model_threads"}
        if set(d) - allowed:
            raise ValueError(f"unknown predict config keys {sorted(set(d) - allowed)}; allowed: {sorted(allowed)}")
        return cls(**d)

    @classmethod
    def from_id(cls, config_id: str) -> PredictConfig:
        """The config of an :attr:`id`; a clear ValueError for anything else."""
        bad = ValueError(
            f"predict config id {config_id!r} is not allowed; use p-serial, p-serial-t2, p-auto, "
            "p-n2-both, p-n2-rows, p-n2-models (optionally -threading / -loky)"
        )
        if config_id == "p-auto":
            return cls(AUTO)
        if config_id == "p-serial":
            return cls()
        parts = config_id.split("-")
        if len(parts) == 3 and parts[:2] == ["p", "serial"] and parts[2][:1] == "t" and parts[2][1:].isdigit():
            return cls(model_threads=int(parts[2][1:]))
        if len(parts) in (3, 4) and parts[0] == "p" and parts[1][:1] == "n" and parts[1][1:].isdigit():
            try:
                return cls(int(parts[1][1:]), parts[2], parts[3] if len(parts) == 4 else None)
            except ValueError:
                raise bad from None
        raise bad

    @classmethod
    def parse(cls, text: str) -> PredictConfig:
        """An id (``p-n2-rows``) or ``n_jobs=2,split=rows,backend=threading,threads=2``."""
        text = text.strip()
        if text.startswith("p-"):
            return cls.from_id(text)
        values: dict[str, Any] = {}
        keys = {"n_jobs": "n_jobs", "split": "split", "backend": "backend", "threads": "model_threads"}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep or key not in keys:
                raise ValueError(f"predict config part {part!r} is not allowed; use an id like p-n2-rows or {', '.join(k + '=' for k in keys)}")
            if key in ("n_jobs", "threads"):
                values[keys[key]] = None if value in ("", "None", "none") else (AUTO if value == AUTO else _int(key, value))
            else:
                values[keys[key]] = value
        return cls(**values)


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{key}={value!r} is not allowed; use an integer >= 1") from None


def serial_predict_config() -> PredictConfig:
    """``p-serial``: the package's way (no workers, one thread per model)."""
    return PredictConfig()


def predict_config_grid(cores: int) -> list[PredictConfig]:
    """The predict configs a sweep measures on ``cores``: the serial reference, the
    models' own threads on every core, ``cores`` workers with each split, the loky
    processes of the default split, and ``"auto"`` (one core: serial and auto only)."""
    grid = [serial_predict_config()]
    if cores > 1:
        grid.append(PredictConfig(model_threads=cores))
        grid += [PredictConfig(cores, split) for split in PREDICT_SPLITS]
        grid.append(PredictConfig(cores, "both", "loky"))
    grid.append(PredictConfig(AUTO))
    return grid


def supports_predict(engine: str, config: PredictConfig) -> bool:
    """The metalearners package predicts serially (no ``n_jobs``): its serial config only."""
    return engine == "core" or config.is_serial
