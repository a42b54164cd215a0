"""The report as one self-contained HTML page: per scenario the ranked table, its figures
and the verdict; the run manifests; a summary across scenarios with its figures.

Rendering only, from the same objects as the text / Markdown report: the table rows,
facts and verdict sentences of :mod:`harness.render.report` and the figures of
:mod:`harness.plots.write` (the ones ``plot`` writes), embedded as base64 PNG. Nothing
is fetched: no external script, style sheet or image, and a Content-Security-Policy
that admits only this page's two inline scripts (by hash) and ``data:`` images, so an
escaped string can never run and a stray external reference fails loudly. Every string
from the store is escaped with :func:`html.escape`. The scripts sort a table by the
header clicked, and on load write into ``<body>`` how many figures decoded and how many
errors the page saw (``data-status``, ``data-figures``, ``data-figures-decoded``,
``data-errors``), which the browser test reads.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from html import escape
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from harness.analysis.summary import ScenarioAnalysis
from harness.plots._style import DPI, VERDICT_COLORS
from harness.plots.compare import compare_figure
from harness.plots.write import across_figures, scenario_figures
from harness.render.report import (
    SUMMARY_LEGEND,
    config_rows,
    intro,
    failure_rows,
    run_lines,
    scenario_facts,
    scenario_notes,
    summary_rows,
    title,
)
from harness.render.tables import numeric_cell

__all__ = ["render_html"]

FIGURE_CAPTIONS = {
    "heatmap": "Median warm wall (and speed-up vs serial) of every split of the cores",
    "scaling": "Speed-up vs threads used, against perfect scaling and the ideal bound",
    "pareto": "CPU seconds vs wall seconds; the Pareto front",
    "box": "Every warm wall sample per config, coloured by the verdict",
    "timeline": "One warm fit per config, the fastest first: its base-model fits on their workers",
    "winners": "Which split wins, per scenario factor",
    "speedup": "The fastest config's speed-up per scenario beside the library default's and the ideal bound",
}
#: Figures drawn across a whole row of the page (the rest sit two to a row on a wide screen).
WIDE_FIGURES = {"timeline", "winners", "speedup", "compare"}

# Runs first, in <head>: collects every error of the page (scripts, and images that fail to load).
ERROR_SCRIPT = (
    "window.reportErrors=[];"
    "addEventListener('error',function(e){reportErrors.push(String(e.message||"
    "(e.target&&e.target.tagName)||'error'))},true);"
)
PAGE_SCRIPT = """
function cellKey(cell, numeric) {
  var text = cell.textContent.trim();
  if (!numeric) return text.toLowerCase();
  var value = parseFloat(text);
  return isNaN(value) ? null : value;
}
function sortBy(th) {
  var table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
  var numeric = th.classList.contains('num');
  var ascending = th.getAttribute('aria-sort') !== 'ascending';
  table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
  th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = cellKey(a.cells[col], numeric), y = cellKey(b.cells[col], numeric);
    if (x === y) return 0;
    if (x === null) return 1;  // missing values ("-") last either way
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (ascending ? 1 : -1);
  });
  rows.forEach(function (row) { body.appendChild(row); });
}
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.tabIndex = 0;
  th.title = 'sort by this column';
  th.addEventListener('click', function () { sortBy(th); });
  th.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(th); }
  });
});
// Synchronous on load (img.decode() settles in real time, after a headless browser's
// virtual time may have run out): an image that loaded has its natural size.
addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images), body = document.body;
  body.dataset.figures = images.length;
  body.dataset.figuresDecoded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  body.dataset.errors = window.reportErrors.length;
  body.dataset.status = 'done';
});
"""

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:1em 2em 3em;
  max-width:1400px;color:#222}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2.2em}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num,th.num{text-align:right}
tbody tr:nth-child(even){background:#fafafa}
.table-wrap{overflow-x:auto}
ul.verdict{background:#f6f8fa;border-left:4px solid #2ca02c;padding:.6em 1em .6em 2em}
.facts{color:#555}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1em;align-items:start}
figure{margin:0}figure.wide{grid-column:1/-1}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555}
nav ul{columns:2;font-size:13px}
details{margin:.4em 0}summary{cursor:pointer}
"""


def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src {_script_hash(ERROR_SCRIPT)} {_script_hash(PAGE_SCRIPT)}"
)


def _png_bytes(fig: Figure) -> bytes:
    """The figure as a 256-colour PNG: flat plot colours survive the palette, and a
    page of ~100 figures stays a few MB instead of over 10."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _figure_html(fig: Figure, kind: str, caption: str) -> str:
    data = base64.b64encode(_png_bytes(fig)).decode("ascii")
    wide = ' class="wide"' if kind in WIDE_FIGURES else ""
    return (
        f'<figure{wide}><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _verdict_class(verdict: Any) -> str:
    return "v-" + re.sub(r"[^a-z]+", "-", str(verdict).lower()).strip("-")


def _table(rows: list[dict[str, str]], cell_classes: list[dict[str, str]] | None = None) -> str:
    """A sortable table of formatted rows; ``cell_classes[i][column]`` adds a class to a cell."""
    if not rows:
        return "<p>(none)</p>"
    headers = list(rows[0])
    numeric = {h: all(numeric_cell(str(r.get(h, ""))) for r in rows) for h in headers}
    head = "".join(f'<th{" class=num" if numeric[h] else ""}>{escape(h)}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        extra = cell_classes[i] if cell_classes else {}
        cells = []
        for h in headers:
            classes = " ".join(c for c in ("num" if numeric[h] else "", extra.get(h, "")) if c)
            attr = f' class="{escape(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{escape(str(row.get(h, '')))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _list(items: list[str], css: str = "") -> str:
    if not items:
        return ""
    attr = f' class="{css}"' if css else ""
    return f"<ul{attr}>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _scenario_section(index: int, a: ScenarioAnalysis, fits: pd.DataFrame, tasks: pd.DataFrame) -> str:
    out = [f'<section id="s{index}"><h2>{escape(a.title)}</h2>', _list(scenario_facts(a), "facts")]
    if a.ranked.empty:
        out.append("<p>No config has a warm measurement.</p>")
    else:
        rows = config_rows(a)
        verdicts = [{"vs fastest": f"verdict {_verdict_class(v)}"} for v in a.table["verdict"]]
        out.append(_table(rows, verdicts))
    out += ["<h3>Verdict</h3>", _list(scenario_notes(a), "verdict")]
    if len(a.failures):
        out += ["<h3>Failed trials</h3>", _table(failure_rows(a))]
    figures = [
        _figure_html(fig, kind, f"{FIGURE_CAPTIONS.get(kind, kind)} ({a.title})")
        for kind, fig in scenario_figures(a, fits, tasks)
    ]
    out += ['<div class="figures">', *figures, "</div>", "</section>"]
    return "\n".join(out)


def _flatten(manifest: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items = []
    for key, value in manifest.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, (list, tuple)):
            items.append((f"{prefix}{key}", ", ".join(str(v) for v in value)))
        else:
            items.append((f"{prefix}{key}", "" if value is None else str(value)))
    return items


def _manifest_section(runs: pd.DataFrame | None, fits: pd.DataFrame | None = None) -> str:
    out = ['<section id="manifest"><h2>Runs and their manifests</h2>']
    lines = run_lines(runs, fits)
    if not lines:
        return out[0] + "<p>No run manifest in this store.</p></section>"
    out.append(_list(lines))
    for _, run in runs.iterrows():
        manifest = run.get("manifest") if isinstance(run.get("manifest"), dict) else {}
        rows = [{"field": key, "value": value} for key, value in _flatten(manifest)]
        command = run.get("command")
        out.append(
            f"<details><summary>manifest of run {escape(str(run.get('run_id')))}"
            + (f" ({escape(str(command))})" if command else "")
            + f"</summary>{_table(rows)}</details>"
        )
    return "\n".join(out + ["</section>"])


def _summary_section(analyses: list[ScenarioAnalysis], engines: pd.DataFrame | None) -> str:
    out = [
        '<section id="summary"><h2>Summary: the fastest config per scenario</h2>',
        _table(summary_rows(analyses)),
        f"<p>{escape(SUMMARY_LEGEND)}</p>",
        '<div class="figures">',
    ]
    for name, fig in across_figures(analyses):
        kind = name.rsplit("_", 1)[1]
        engine = name.removeprefix("across_").removesuffix(f"_{kind}")
        out.append(_figure_html(fig, kind, f"{engine} engine: {FIGURE_CAPTIONS.get(kind, kind)}"))
    if engines is not None and not engines.empty:
        caption = "metalearners_core vs the metalearners package: median wall ratios with 95% bootstrap intervals"
        out.append(_figure_html(compare_figure(engines), "compare", caption))
    return "\n".join(out + ["</div>", "</section>"])


def _contents(analyses: list[ScenarioAnalysis]) -> str:
    links = [f'<li><a href="#s{i}">{escape(a.title)}</a></li>' for i, a in enumerate(analyses)]
    return (
        '<nav><ul><li><a href="#summary">Summary across scenarios</a></li>'
        '<li><a href="#manifest">Runs and their manifests</a></li>' + "".join(links) + "</ul></nav>"
    )


def render_html(
    analyses: list[ScenarioAnalysis],
    fits: pd.DataFrame,
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    engines: pd.DataFrame | None = None,
) -> str:
    """The report page for these analyses (see :func:`~harness.analysis.summary.analyse`)
    of ``fits`` and ``tasks`` (whose figures it draws), with the store's ``runs`` and,
    where given and not empty, the engines compared (the table of
    :func:`harness.analysis.compare.compare`) as a figure in the summary."""
    rank = analyses[0].rank if analyses else "warm"
    verdict_css = "".join(
        f".{_verdict_class(v)}{{background:{color}55}}" for v, color in VERDICT_COLORS.items()
    )
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title(rank))}</title><script>{ERROR_SCRIPT}</script>"
        f"<style>{STYLE}{verdict_css}</style></head>"
    )
    body = [f'<body data-status="loading"><h1>{escape(title(rank))}</h1>', f"<p>{escape(intro(rank))}</p>"]
    if not analyses:
        body.append("<p>No fits in this store.</p>")
        body.append(_manifest_section(runs, fits))
    else:
        body.append(_contents(analyses))
        body.append(_summary_section(analyses, engines))
        body.append(_manifest_section(runs, fits))
        body += [_scenario_section(i, a, fits, tasks) for i, a in enumerate(analyses)]
    body.append(f"<script>{PAGE_SCRIPT}</script></body></html>")
    return head + "\n" + "\n".join(body) + "\n"
