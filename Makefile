# Everything a fresh machine needs: `make sweep` (the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: sweep test test-compat bench results clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,peers,onnx,explain,dask,cluster]"
	touch $(STAMP)

# The main job: the default sweep into the embedded SQLite store, then its report.
sweep: $(STAMP)
	$(PY) -m harness sweep $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

# The library against both ends of its scikit-learn range (CI runs this too).
test-compat:
	bash .ci/compat 1.5 ".venv-sklearn-oldest"
	bash .ci/compat 1.9 ".venv-sklearn-newest"

# The committed reference artifacts under results/ (report as Markdown and as one
# self-contained HTML page, plots, export, engines),
# from a results database (default: the embedded store).
DB ?= results/harness.db
OUT ?= results/$(shell hostname -s 2>/dev/null || echo local)
results: $(STAMP)
	mkdir -p $(OUT)
	$(PY) -m harness report --db $(DB) --format md --out $(OUT)/report.md
	$(PY) -m harness report --db $(DB) --format html --out $(OUT)/report.html
	$(PY) -m harness report --db $(DB) --format md --rank cold --out $(OUT)/report_cold.md
	$(PY) -m harness plot --db $(DB) --out $(OUT)/plots
	$(PY) -m harness export --db $(DB) --format csv --out $(OUT)/measurements.csv
	$(PY) -m harness compare --db $(DB) --format md --out $(OUT)/compare.md --plot $(OUT)/plots/compare_engines.png

bench: $(STAMP)
	$(PY) -m pytest tests/benchmarks --benchmark-enable $(ARGS)

clean:
	rm -rf .venv .venv-sklearn-* .pytest_cache .benchmarks
