"""The sweep's progress line at a given terminal width: the bar, count and ETA come
first and stay whole; the trial's name gets what is left, cut with an ellipsis."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from harness.render.progress import progress

NAME = "[1/11] DR-16k-20f-2v-5folds-lightgbm-continuous-linear-randomised-s0: core m1-f1-s2-threading #2"


def progress_line(width: int, done: int = 132, total: int = 264) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None, highlight=False)
    bar = progress(console)
    task = bar.add_task("sweep", total=total)
    bar.update(task, description=NAME, completed=done)
    console.print(bar.get_renderable())
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines  # one line, never wrapped
    return lines[0]


@pytest.mark.parametrize("width", [80, 100])
def test_bar_count_and_eta_first_then_what_fits_of_the_name(width: int):
    line = progress_line(width)
    assert len(line) <= width
    assert line.startswith("sweep ")
    assert "━" in line  # the bar, half done
    count, eta, name = line.index("132/264"), line.index(" eta "), line.index("[1/11] DR-16k")
    assert count < eta < name
    assert line.endswith("…")  # the name is cut, not the figures


def test_a_wide_terminal_shows_the_whole_name():
    line = progress_line(200)
    assert line.endswith(NAME) and "132/264" in line


def test_no_bar_when_not_a_terminal():
    console = Console(file=io.StringIO(), force_terminal=False)
    with progress(console) as bar:
        bar.update(bar.add_task("sweep", total=3), description=NAME)
    assert console.file.getvalue() == ""
