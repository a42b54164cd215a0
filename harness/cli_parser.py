"""The command line of ``python -m harness``: its argparse parser, one sub-parser per command,
and the argument types that turn what the user typed into checked values.

Owns only the shape of the command line (names, types, help text, defaults); the
commands themselves are the ``cmd_*`` functions of :mod:`harness.cli`, given to
:func:`build_parser` as a mapping so this module imports none of them. Every path
option says in its help what it is and its default, and every ``--out`` behaves the
same (:mod:`harness.paths`): missing parent folders are created, an existing file is
replaced and the command says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

from harness.analysis.stats import ALPHA, MIN_EFFECT, RANKS
from harness.config import BACKENDS, ParallelConfig, is_backend
from harness.cores import add_cores_option
from harness.engines import ENGINES, check_engine
from harness.predict_config import PredictConfig
from harness.own_data import add_data_options
from harness.render.hints import DEFAULT_DB

__all__ = ["build_parser"]

#: Help of every ``--db`` that reads a results database.
DB_HELP = f"SQLite results database written by sweep/tune (default: {DEFAULT_DB})"
#: What every file ``--out`` does with folders and existing files.
OUT_FILE_NOTE = "missing folders are created; an existing file is replaced (the command says so)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; use an integer >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; use a number > 0")
    return value


def _min_effect(text: str) -> float:
    """A practical threshold: 0.03 or 3% (a fraction >= 0 and < 1)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; use e.g. 0.03 or 3%") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not allowed; use a fraction >= 0 and < 1 (0.03 or 3%)")
    return value


def _alpha(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; use a number between 0 and 1")
    return value


#: Help of the options of THE verdict rule, the same in every command.
MIN_EFFECT_HELP = (
    f"practical threshold: a config is 'slower' only when it is significantly AND more than this "
    f"much slower than the fastest, else 'tied' (default {MIN_EFFECT:g}, i.e. {MIN_EFFECT:.0%}; 0.05 or 5% also work)"
).replace("%", "%%")  # argparse formats help with %
ALPHA_HELP = f"significance level of the two-sided Welch t-test on per-trial figures (default {ALPHA:g})"
RANK_HELP = (
    "which fits to rank: warm (default; fits 2.. of each trial, a process that fits repeatedly) or "
    "cold (the first fit of each trial, one per process: what a batch job that fits once pays)"
)
VALUES_HELP = "warm fits per trial after its cold first fit; the trial (process) is the statistical unit"
CLUSTER_HELP = (
    "run the trials on a Dask cluster, one at a time per host: tcp://HOST:8786 (workers started with "
    "python -m harness worker --scheduler tcp://HOST:8786), or local:N (N worker processes on this machine, "
    "each posing as a host: to try it)"
)


def _engines(text: str) -> list[str]:
    engines = [e.strip() for e in text.split(",") if e.strip()]
    if not engines:
        raise argparse.ArgumentTypeError(f"no engine given; choose from {', '.join(ENGINES)}")
    for engine in engines:
        try:
            check_engine(engine)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return list(dict.fromkeys(engines))


def _int_list(text: str) -> list[int]:
    return [_positive_int(v) for v in text.split(",") if v.strip()]


def _backends(text: str) -> tuple[str, ...]:
    backends = tuple(b.strip() for b in text.split(",") if b.strip())
    bad = [b for b in backends if not is_backend(b)]
    if bad or not backends:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(BACKENDS)} or dask<N> (a local Dask cluster of N workers)")
    return backends


def _config(text: str) -> ParallelConfig | PredictConfig:
    """A fit config, or a predict config (``p-...`` or ``n_jobs=...,split=...``) for ``--phase predict``."""
    try:
        if text.strip().startswith("p-") or any(k in text for k in ("n_jobs=", "split=", "threads=")):
            return PredictConfig.parse(text)
        return ParallelConfig.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _batches(text: str) -> list[int]:
    """Comma-separated batch sizes (rows per predict call), each an integer >= 1."""
    return positive_ints(text, "batch size", "--batch 1,100,10000")


def positive_ints(text: str, what: str, example: str, prefix: str = "") -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` (argparse type): distinct integers >= 1, at least one; each
    mistake one message naming the value (``prefix`` before it)."""
    values = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{prefix}{part!r} is not an integer; use e.g. {example}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{prefix}{value} is not allowed; use integers >= 1 ({what}s)")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError(f"{prefix}no {what} given; use e.g. {example}")
    return list(dict.fromkeys(values))


PHASE_HELP = "fit (default: how to split the cores to fit) or predict (the fitted learner's predict calls on --batch rows)"
BATCH_HELP = "comma-separated rows per predict call for --phase predict (default: the preset's [sweep] predict_batches, else 1,100,10000)"


def _phase_options(p: argparse.ArgumentParser, batch: bool = True, default: str | None = "fit") -> None:
    help_text = PHASE_HELP if default else "fit or predict: only that phase's figures (default: every phase the store holds)"
    p.add_argument("--phase", choices=["fit", "predict"], default=default, help=help_text)
    if batch:
        p.add_argument("--batch", type=_batches, default=None, help=BATCH_HELP)




class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser(commands: Mapping[str, Callable[[argparse.Namespace], int]]) -> argparse.ArgumentParser:
    """The parser; each sub-parser's ``func`` is ``commands[its name]``."""
    parser = _Parser(
        prog="python -m harness",
        description="Measure how to split the cores of this machine to fit a meta-learner fastest.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list the scenarios of the presets")
    p.add_argument("--preset", help="only this preset")
    p.set_defaults(func=commands["list"])

    p = sub.add_parser("measure", help="measure one (engine, scenario, config) trial and print its figures")
    p.add_argument("--scenario", help="a scenario id (or unique prefix) from the presets, or fields like learner=T,n_rows=10000")
    p.add_argument("--preset", help="look the scenario id up in this preset only")
    add_data_options(p)
    p.add_argument("--config", type=_config, default=None, help="'default' or model=2,folds=1,stage=1,backend=loky; with --phase predict a predict config: p-serial (default), p-n2-rows, p-auto, ...")
    p.add_argument("--engine", default="core", choices=list(ENGINES))
    fits = p.add_mutually_exclusive_group()
    fits.add_argument("--values", type=_positive_int, default=None, help=VALUES_HELP + " (default 2)")
    fits.add_argument("--repeats", type=_positive_int, default=None, help="fits in the trial, the cold one included (older spelling of --values N: N + 1)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds before the trial is killed and recorded as failed")
    p.add_argument("--json", action="store_true", help="print the whole trial result as JSON")
    add_cores_option(p)
    _phase_options(p)
    p.set_defaults(func=commands["measure"])

    p = sub.add_parser("sweep", help="measure every split of the cores for each scenario into a results database")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", help="a preset name (default: default)")
    source.add_argument("--scenarios", help="a TOML file of scenarios (same format as the presets)")
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"SQLite results database (default: {DEFAULT_DB})")
    p.add_argument("--repeats", type=_positive_int, default=None, help="trials (fresh processes) per config, interleaved across configs (default: the preset's [sweep] repeats, else 3)")
    p.add_argument("--values", type=_positive_int, default=None, help=VALUES_HELP + " (default: the preset's [sweep] values, else 2)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per trial before it is killed and recorded as failed")
    p.add_argument("--engine", type=_engines, default=None, help="comma-separated engines: core, metalearners (default: core; with --phase predict both, where the package is installed)")
    p.add_argument("--levels", type=_int_list, help="values tried at each level (default: the preset's [sweep] levels, else 1, 2, 4, ... up to the cores)")
    p.add_argument("--backends", type=_backends, default=None, help="comma-separated joblib backends (default: the preset's [sweep] backends, else loky,threading)")
    p.add_argument("--oversubscribe", type=_positive_float, default=1.0, help="keep configs asking for up to this many times the cores in threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random interleaving order")
    p.add_argument("--mem-interval", type=_positive_float, default=0.1, help="seconds between memory samples of a trial's process tree (default 0.1; shorter costs the supervisor more CPU)")
    p.add_argument("--no-report", action="store_true", help="do not print the report at the end")
    p.add_argument("--cluster", help=CLUSTER_HELP)
    _phase_options(p)
    add_data_options(p)
    add_cores_option(p, many=True)
    p.set_defaults(func=commands["sweep"])

    p = sub.add_parser("init-preset", help="print the preset TOML of a workload on your data file (--data ...), to edit and keep")
    add_data_options(p)
    p.set_defaults(func=commands["init-preset"])

    p = sub.add_parser(
        "tune",
        help="search the fastest config of a workload with an Optuna study (stored next to the sweep results)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "One study per workload, named tune:{engine}:{scenario_id}; running it again continues it.\n"
            "Open a study in optuna-dashboard:\n"
            "  pip install optuna-dashboard && optuna-dashboard sqlite:///results/harness.db"
        ),
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--scenario", help="a scenario id (or unique prefix) from the presets, or fields like learner=T,n_rows=10000")
    source.add_argument("--preset", help="one study per scenario of this preset")
    add_data_options(p)
    p.add_argument("--trials", type=_positive_int, default=20, help="configs to measure in this call, per study (default 20)")
    p.add_argument("--repeats", type=_positive_int, default=3, help="trials per config; the objective is the median of their warm walls (default 3)")
    p.add_argument("--values", type=_positive_int, default=2, help=VALUES_HELP + " (default 2)")
    p.add_argument("--min-effect", type=_min_effect, default=MIN_EFFECT, help=MIN_EFFECT_HELP + "; says which configs are tied with the best")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per trial before it is killed and recorded as failed")
    p.add_argument("--time-budget", type=_positive_float, help="seconds per study after which no new config starts")
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"SQLite results database; also the default study storage (default: {DEFAULT_DB})")
    p.add_argument("--storage", help="an Optuna storage URL for the studies instead of the results database; "
                   "postgresql://USER@HOST/DB lets tune processes on several machines share one study")
    p.add_argument("--cluster", help=CLUSTER_HELP + "; one Optuna trial in flight per host")
    p.add_argument("--study", help="study name (default: tune:{engine}:{scenario_id})")
    p.add_argument("--engine", default="core", choices=list(ENGINES))
    p.add_argument("--objectives", default="wall", help="wall (default), wall,cpu or wall,memory (multi-objective: prints the Pareto front)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    p.add_argument("--levels", type=_int_list, help="values tried at each level (default: 1, 2, 4, ... up to the cores)")
    p.add_argument("--backends", type=_backends, default=BACKENDS, help="comma-separated joblib backends (default: loky,threading)")
    p.add_argument("--oversubscribe", type=_positive_float, default=1.0, help="keep configs asking for up to this many times the cores in threads (default 1)")
    p.add_argument("--prune-ratio", type=_positive_float, default=1.5, help="prune a config whose first repeat is this many times slower than the best median (default 1.5; inf: never)")
    p.add_argument("--allow-concurrent", action="store_true", help="measure even while another tune/sweep measures on this machine (corrupts the timings of both)")
    add_cores_option(p)
    p.add_argument("--seed-from-whatif", type=_positive_int, nargs="?", const=3, default=0, metavar="K",
                   help="measure first the K (default 3) configs the what-if predictor ranks best on these cores from --db's traces")
    _phase_options(p)
    p.set_defaults(func=commands["tune"])

    p = sub.add_parser("recommend", help="re-measure the leaders of a workload interleaved and recommend the simplest tied with the fastest")
    p.add_argument("--scenario", help="a scenario id (or unique prefix) in the database or the presets, or fields like learner=T,n_rows=10000")
    add_data_options(p)
    p.add_argument("--db", default=str(DEFAULT_DB), help=DB_HELP + "; may be missing when --scenario is in the presets")
    p.add_argument("--engine", default="core", choices=list(ENGINES))
    p.add_argument("--top", type=_positive_int, default=3, help="leaders to re-measure (default 3)")
    p.add_argument("--repeats", type=_positive_int, default=5, help="trials per leader, interleaved (default 5)")
    p.add_argument("--values", type=_positive_int, default=2, help=VALUES_HELP + " (default 2)")
    p.add_argument("--rank", choices=list(RANKS), default="warm", help=RANK_HELP)
    p.add_argument("--alpha", type=_alpha, default=ALPHA, help=ALPHA_HELP)
    p.add_argument("--min-effect", type=_min_effect, default=MIN_EFFECT, help=MIN_EFFECT_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaving order and the bootstrap")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per trial before it is killed and recorded as failed")
    p.add_argument("--no-remeasure", action="store_true", help="decide on the stored measurements only")
    p.add_argument("--allow-concurrent", action="store_true", help="measure even while another tune/sweep measures on this machine (corrupts the timings)")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    add_cores_option(p)
    p.add_argument("--predicted", action="store_true",
                   help="recommend for a --cores P machine from what-if PREDICTIONS of the store's traces (measures nothing)")
    p.add_argument("--cluster", help=CLUSTER_HELP)
    p.add_argument("--storage", help="also read the tune study in this Optuna storage (e.g. postgresql://...): "
                   "its configs' walls count as stored measurements")
    p.add_argument("--study", help="the study to read with --storage (default: tune:{engine}:{scenario_id})")
    _phase_options(p)
    p.set_defaults(func=commands["recommend"])

    p = sub.add_parser("export", help="export every measurement to CSV or Parquet")
    p.add_argument("--db", default=str(DEFAULT_DB), help=DB_HELP)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="csv (default) or parquet; must agree with --out's extension")
    p.add_argument("--out", required=True, help=f"the file to write (no default: required; .csv or .parquet); {OUT_FILE_NOTE}")
    p.set_defaults(func=commands["export"])

    p = sub.add_parser("report", help="per scenario: configs ranked by median wall, speed-ups, ties, ideal bound")
    p.add_argument("--db", default=str(DEFAULT_DB), help=DB_HELP)
    p.add_argument("--format", choices=["text", "md", "html"], default="text",
                   help="text (default), md (Markdown) or html (one self-contained page with the figures; needs --out)")
    p.add_argument("--out", help=f"write the report to this file (default: print it; html: required); {OUT_FILE_NOTE}")
    p.add_argument("--rank", choices=list(RANKS), default="warm", help=RANK_HELP)
    p.add_argument("--alpha", type=_alpha, default=ALPHA, help=ALPHA_HELP)
    p.add_argument("--min-effect", type=_min_effect, default=MIN_EFFECT, help=MIN_EFFECT_HELP)
    _phase_options(p, batch=False)
    p.set_defaults(func=commands["report"])

    p = sub.add_parser("compare", help="metalearners_core vs the metalearners package: wall, CPU and RMSE side by side")
    p.add_argument("--db", default=str(DEFAULT_DB), help=DB_HELP)
    p.add_argument("--format", choices=["text", "md"], default="text", help="text (default) or md (Markdown)")
    p.add_argument("--out", help=f"write the table to this file (default: print it); {OUT_FILE_NOTE}")
    p.add_argument("--plot", help=f"also draw the ratios into this PNG file (default: no figure); {OUT_FILE_NOTE}")
    p.add_argument("--rank", choices=list(RANKS), default="warm", help=RANK_HELP)
    p.add_argument("--alpha", type=_alpha, default=ALPHA, help=ALPHA_HELP)
    p.add_argument("--min-effect", type=_min_effect, default=MIN_EFFECT, help=MIN_EFFECT_HELP)
    p.add_argument("--by", choices=["engine", "host"], default="engine",
                   help="engine (default): the two engines side by side; host: the machine types side by side")
    _phase_options(p, batch=False)
    p.set_defaults(func=commands["compare"])

    p = sub.add_parser("worker", help="run this host's Dask worker for --cluster (one trial at a time, no memory limit)")
    p.add_argument("--scheduler", required=True, help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--name", help="the worker's name (default: this host's name)")
    p.set_defaults(func=commands["worker"])

    p = sub.add_parser("plot", help="write the comparison figures (PNG)")
    p.add_argument("--db", default=str(DEFAULT_DB), help=DB_HELP)
    p.add_argument("--out", default="results/plots", help="the folder for the PNG files (default: results/plots); created if missing, existing figures of the same name are replaced")
    _phase_options(p, batch=False, default=None)
    p.set_defaults(func=commands["plot"])

    if "whatif" in commands:
        from harness.whatif.parser import add_whatif_parser

        add_whatif_parser(sub, commands["whatif"], _engines, DB_HELP, str(DEFAULT_DB), OUT_FILE_NOTE)
    return parser


