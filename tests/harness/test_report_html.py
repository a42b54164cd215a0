"""The HTML report: what the page holds (constructed data), and the page in a real browser
(headless Chromium, Debian package ``chromium``) from a store built by hand and from a real
smoke store: no console error, every figure decoded, tables sort on a click, nothing
hostile from the store runs, and a screenshot for a person to look at.

The browser tests skip only where Chromium is missing and CI is not set; under CI they
fail instead (``.ci/run`` installs it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.compare import compare
from harness.analysis.summary import analyse
from harness.cli import main
from harness.config import ParallelConfig
from harness.render.html import render_html
from harness.render.report import scenario_notes
from harness.store import Store
from scenarios import Scenario

from .test_report import BROKEN, FAST, FAST_WALLS, SERIAL, SLOW, failed_row, fit_rows, task_rows
from .test_store import fit, result

HOSTILE = '<img src=x onerror="document.title=1"><script>document.title=2</script>'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk and its CRC: the last 8 bytes of every PNG


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if _in_ci():
            pytest.fail("chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); under CI this fails")
    return path


class _BodyAttrs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "body" and not self.attrs:
            self.attrs = {k: v or "" for k, v in attrs}


def _chromium(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", f"--user-data-dir={tmp / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )


def load_page(binary: str, page: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    """The attributes of ``<body>`` once the page's scripts ran, and every console
    message (Chromium logs them, errors and CSP violations included, to stderr)."""
    run = _chromium(binary, tmp, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                    "--dump-dom", page.resolve().as_uri())
    assert run.returncode == 0, run.stderr[-3000:]
    parser = _BodyAttrs()
    parser.feed(run.stdout)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return parser.attrs, console


def assert_page_loads_cleanly(binary: str, page: Path, tmp: Path) -> dict[str, str]:
    body, console = load_page(binary, page, tmp)
    n_figures = page.read_text().count("<figure")
    assert console == [], console
    assert body.get("data-status") == "done", body
    assert body["data-errors"] == "0", body
    # every <img> is one of the figures (nothing from the store became an element), and all decoded
    assert int(body["data-figures"]) == n_figures > 0, (body, n_figures)
    assert body["data-figures-decoded"] == body["data-figures"], body
    return body


SORT_CHECK = """
addEventListener('load', function () {
  var table = document.querySelector('#s0 table.sortable'), out = {};
  function column(name) {
    var th = Array.prototype.find.call(table.tHead.rows[0].cells, function (c) { return c.textContent === name; });
    var values = [];
    th.click(); values.push(Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[th.cellIndex].textContent; }));
    th.click(); values.push(Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[th.cellIndex].textContent; }));
    return values;
  }
  out.wall = column('warm s');
  out.config = column('config');
  document.body.dataset.sortCheck = JSON.stringify(out);
});
"""


def check_sorting(binary: str, page: Path, tmp: Path) -> None:
    """Clicks the headers of the first ranked table in the browser (a copy of the page with
    a test script, admitted by adding its hash to the page's policy) and checks the order."""
    digest = base64.b64encode(hashlib.sha256(SORT_CHECK.encode()).digest()).decode()
    text = page.read_text()
    assert "script-src " in text
    text = text.replace("script-src ", f"script-src &#x27;sha256-{digest}&#x27; ", 1)
    copy = tmp / "sort-check.html"
    copy.write_text(text.replace("</body>", f"<script>{SORT_CHECK}</script></body>"))
    body, console = load_page(binary, copy, tmp)
    assert console == [], console
    checks = json.loads(body["data-sort-check"])
    ascending, descending = checks["wall"]
    numbers = [float(v) for v in ascending if v != "-"]
    assert len(numbers) >= 2 and numbers == sorted(numbers) and len(set(numbers)) > 1, ascending
    assert ascending[len(numbers):] == ["-"] * (len(ascending) - len(numbers))  # missing values last
    numbers_desc = [float(v) for v in descending if v != "-"]
    assert numbers_desc == sorted(numbers, reverse=True), descending
    assert descending[len(numbers):] == ascending[len(numbers):]
    names_up, names_down = checks["config"]
    assert names_up == sorted(names_up, key=str.lower) and names_down == names_up[::-1]


# -- the page's contents, without a browser ------------------------------------------


@pytest.fixture
def constructed() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Two engines on one scenario (core with serial traces), a failed trial and a run
    manifest whose strings are HTML."""
    fits = pd.DataFrame(
        fit_rows(SERIAL, [10.0, 10.2, 9.8, 10.1, 9.9], cpus=[10.0] * 5) + fit_rows(FAST, FAST_WALLS, cpus=[12.5] * 5)
        + fit_rows(SLOW, [8.0, 8.1, 7.9, 8.2, 7.8]) + [failed_row(BROKEN, 0, reason=HOSTILE)]
        + fit_rows(SERIAL, [12.0, 12.1, 11.9], engine="metalearners") + fit_rows(FAST, [7.0, 7.1, 6.9], engine="metalearners")
    )
    serial_trials = fits[(fits["config_id"] == SERIAL.id) & (fits["engine"] == "core")]["trial_id"].unique()
    tasks = pd.DataFrame([row for trial_id in serial_trials for row in task_rows(trial_id)])
    runs = pd.DataFrame([{
        "run_id": "r1", "preset": "smoke", "command": "sweep " + HOSTILE, "started_at": "2026-01-01", "finished_at": None,
        "manifest": {"hostname": HOSTILE, "cores_available": 2, "packages": {"lightgbm": "4.5"}, "loadavg_start": [1.0, 0.5]},
    }])
    return fits, tasks, runs


def test_the_page_holds_every_part_and_escapes_every_string(constructed):
    fits, tasks, runs = constructed
    analyses = analyse(fits, tasks)
    page = render_html(analyses, fits, tasks, runs, engines=compare(fits, tasks))
    assert page.startswith("<!DOCTYPE html>")
    # nothing from the store is markup: the hostile strings appear only escaped
    assert "<img src=x" not in page and "<script>document" not in page
    assert page.count("&lt;img src=x onerror=&quot;document.title=1&quot;&gt;") >= 3  # failure, manifest, run line
    # self-contained: every src / href is an embedded image or an anchor of the page
    refs = re.findall(r'\b(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith("data:image/png;base64,") or r.startswith("#") for r in refs), refs[:5]
    assert "<link" not in page and "<script src" not in page
    # per scenario: heading, table, verdict sentences, figures (5 with traces, 4 without);
    # across: 2 per engine and the engines compared
    for i, a in enumerate(analyses):
        assert f'<section id="s{i}"><h2>{a.title}</h2>' in page
        for note in scenario_notes(a):
            assert escape(note) in page
    assert page.count("<figure") == 5 + 4 + 2 * 2 + 1
    assert page.count('<table class="sortable">') == 1 + 1 + 1 + 2  # summary, manifest, failures, 2 ranked
    assert "Summary: the fastest config per scenario" in page and "Runs and their manifests" in page
    assert "packages.lightgbm" in page and "1.0, 0.5" in page  # the manifest, flattened
    for data in re.findall(r'src="data:image/png;base64,([^"]*)"', page):  # whole PNGs: a browser shows a cut one
        png = base64.b64decode(data)
        assert png.startswith(PNG_MAGIC) and png.endswith(PNG_END)


def test_an_empty_store_is_a_page_that_says_so():
    page = render_html([], pd.DataFrame(), pd.DataFrame(), None)
    assert "No fits in this store." in page and "No run manifest in this store." in page
    assert "<figure" not in page


# -- in the browser ---------------------------------------------------------------------


def _handmade_store(db: Path) -> None:
    """Two engines, three configs, three repeats each; a failed trial and a manifest with HTML in them."""
    scenario = Scenario(learner="T", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small")
    walls = {SERIAL: 1.0, ParallelConfig(2, None, 1, "threading"): 0.6, ParallelConfig(): 0.8}
    with Store(db) as store:
        manifest = {"hostname": HOSTILE, "cores_available": 2}
        run = store.start_run(manifest, "sweep --preset x", "x")
        for repeat in range(3):
            for engine, factor in (("core", 1.0), ("metalearners", 1.4)):
                for config, wall in walls.items():
                    w = wall * factor * (1 + 0.02 * repeat)
                    samples = [fit(0, 2 * w, tasks=engine == "core"), fit(1, w, tasks=engine == "core")]
                    store.record_trial(run, engine, scenario, config, repeat, result(samples))
        store.record_trial(run, "core", scenario, BROKEN, 0, result([], "failed", HOSTILE, n_cores=None))
        store.finish_run(run, {**manifest, "timestamp_end": "t"})


def test_the_page_of_a_handmade_store_in_chromium(chromium, tmp_path: Path, capsys):
    db = tmp_path / "results.db"
    _handmade_store(db)
    out = tmp_path / "report" / "report.html"
    assert main(["report", "--db", str(db), "--format", "html", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    body = assert_page_loads_cleanly(chromium, out, tmp_path)
    assert int(body["data-figures"]) == 5 + 4 + 2 * 2 + 1  # both engines and their comparison
    check_sorting(chromium, out, tmp_path)


def test_the_page_of_a_smoke_store_in_chromium(chromium, smoke_db: Path, tmp_path_factory, capsys):
    out_dir = tmp_path_factory.mktemp("report_html")
    page = out_dir / "report.html"
    assert main(["report", "--db", str(smoke_db), "--format", "html", "--out", str(page)]) == 0
    capsys.readouterr()
    assert_page_loads_cleanly(chromium, page, out_dir)
    check_sorting(chromium, page, out_dir)
    # outside pytest's own temp folders, which later runs (anyone's, on this host) delete
    screenshot = Path(tempfile.mkdtemp(prefix="harness-report-html-")) / "report.png"
    run = _chromium(chromium, out_dir, "--hide-scrollbars", "--window-size=1280,4000",
                    f"--screenshot={screenshot}", page.resolve().as_uri())
    assert run.returncode == 0, run.stderr[-3000:]
    assert screenshot.read_bytes().startswith(PNG_MAGIC) and screenshot.stat().st_size > 50_000
    with capsys.disabled():
        print(f"\nscreenshot of the HTML report: {screenshot}")
