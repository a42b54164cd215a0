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


#: Width of the bar itself; the count, elapsed time and ETA take what they need.
BAR_WIDTH = 20


def _fixed_width(total: float | None) -> int:
    """Columns taken by "sweep", the bar, "N/N", elapsed, "eta", remaining and the gaps."""
    digits = len(str(int(total or 0)))
    return len("sweep") + BAR_WIDTH + (2 * digits + 1) + len("0:00:00") + len("eta") + len("-:--:--") + 6


def progress(console: Any) -> Any:
    """The sweep's bar: "sweep", the bar, the count, elapsed time and ETA first, then what
    fits of the trial's name in the width left (a narrow terminal cuts the name, never the
    bar, count or ETA)."""
    if not console.is_terminal:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class NameColumn(ProgressColumn):
        """The task's description, cut to the terminal's width left after the fixed columns."""

        def render(self, task: Any) -> Text:
            room = max(1, console.width - _fixed_width(task.total))
            text = Text(task.description, no_wrap=True, overflow="ellipsis")
            text.truncate(room, overflow="ellipsis")
            return text

    fixed = lambda: Column(no_wrap=True)  # noqa: E731
    return Progress(
        TextColumn("sweep", table_column=fixed()),
        BarColumn(bar_width=BAR_WIDTH, table_column=fixed()),
        MofNCompleteColumn(table_column=fixed()),
        TimeElapsedColumn(table_column=fixed()),
        TextColumn("eta", table_column=fixed()),
        TimeRemainingColumn(table_column=fixed()),
        NameColumn(table_column=Column(no_wrap=True, overflow="ellipsis")),
        console=console,
        transient=True,  # the bar goes; the per-scenario lines stay
        speed_estimate_period=3600,  # the ETA averages over the whole sweep, not the last trials
        redirect_stdout=False,
        redirect_stderr=False,
    )
