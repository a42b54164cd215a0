"""The sweep's live progress bar (rich) and its durations; no redraws when not on a terminal."""

from __future__ import annotations

from typing import Any

__all__ = ["duration", "progress"]


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _NoProgress:
    """Stands in for the bar when stderr is not a terminal (CI, a log file): no redraws."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def add_task(self, description: str, total: int) -> int:
        return 0

    def update(self, task: int, **fields: Any) -> None:
        pass

    def advance(self, task: int) -> None:
        pass


def progress(console: Any) -> Any:
    if not console.is_terminal:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("sweep"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),  # last: a narrow terminal cuts it, not the bar
        console=console,
        transient=True,  # the bar goes; the per-scenario lines stay
        speed_estimate_period=3600,  # the ETA averages over the whole sweep, not the last trials
        redirect_stdout=False,
        redirect_stderr=False,
    )
