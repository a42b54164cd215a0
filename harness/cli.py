"""``python -m harness``: measure, sweep, tune, recommend, export, report, plot.

Thin: each ``cmd_*`` validates what the user gave (inside :func:`harness.errors.user_input`)
and hands it to its command module. Every :class:`harness.errors.HarnessError` exits with
status 2 and one line on stderr; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.config import BACKENDS, ParallelConfig
from harness.engines import ENGINES, check_engine
from harness.errors import HarnessError, UsageError, user_input
from harness.own_data import add_data_options, data_preset_file, data_scenario, preset_text
from harness.render.hints import DEFAULT_DB

UserError = UsageError  # the name the commands below raise


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
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(BACKENDS)}")
    return backends


def _config(text: str) -> ParallelConfig:
    try:
        return ParallelConfig.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _db_path(text: str, must_exist: bool) -> Path:
    path = Path(text)
    if must_exist and not path.is_file():
        raise UserError(f"--db {text}: no such results database (run `python -m harness sweep --db {text}` first)")
    if path.exists() and not path.is_file():
        raise UserError(f"--db {text}: is not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not must_exist and parent.exists() and not parent.is_dir():
        raise UserError(f"--db {text}: {parent} is not a directory")
    return path


def resolve_scenario(text: str, preset: str | None = None):
    """A scenario from ``key=value,...`` fields, or by id (or unique id prefix) from the presets."""
    from scenarios import Scenario, list_presets, load_preset

    if "=" in text:
        fields: dict = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            fields[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
        return Scenario.from_dict({**{"n_rows": 2000, "n_folds": 3, "n_variants": 2, "base_model": "lightgbm", "learner": "DR"}, **fields})
    presets = [preset] if preset else list_presets()
    matches = {s.id: s for name in presets for s in load_preset(name) if s.id.startswith(text)}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if not matches:
        raise UserError(
            f"--scenario {text!r} matches no scenario of the presets {', '.join(presets)}; "
            "give an id (see `python -m harness list`) or fields like learner=T,n_rows=10000"
        )
    raise UserError(f"--scenario {text!r} is ambiguous: {', '.join(sorted(matches))}")


# -- commands -----------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from scenarios import list_presets, load_preset

    with user_input("--preset: "):
        presets = {name: load_preset(name) for name in ([args.preset] if args.preset else list_presets())}
    for name, scenarios in presets.items():  # printed once all loaded: no header before an error
        print(f"{name}:")
        for scenario in scenarios:
            print(f"  {scenario.id}")
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from harness.measure import available_cores
    from harness.trial import TrialSpec, run_trial

    if args.data:
        scenario = data_scenario(args)
    elif args.scenario is None:
        raise UserError("give --scenario ID-or-fields, or --data FILE --outcome COLUMN --treatment COLUMN")
    else:
        with user_input("--scenario: "):
            scenario = resolve_scenario(args.scenario, args.preset)
    spec = TrialSpec(
        workload="scenario",
        params={"engine": args.engine, "scenario": scenario.to_dict(), "config": args.config.to_dict()},
        repeats=args.repeats,
        timeout_s=args.timeout,
    )
    result = run_trial(spec)
    if args.json:
        print(result.to_json())
        return 0 if result.ok else 1
    cores = result.n_cores or available_cores()
    print(f"{args.engine} | {scenario.id} | {args.config.id} | {cores} cores")
    if not result.ok:
        print(f"FAILED: {result.reason}")
    for s in result.samples:
        mem = f"{s.peak_mem_mb:.0f} MiB ({s.mem_measure})" if s.peak_mem_mb is not None else "n/a"
        rmse = s.extras.get("cate_rmse")
        tasks = s.extras.get("tasks") or []
        threads = sorted({t["model_n_jobs"] for t in tasks if t["model_n_jobs"] is not None})
        print(
            f"  fit {s.index} ({s.kind}): wall {s.wall_s:.3f} s, cpu {s.cpu_s:.3f} s, "
            f"util {s.cpu_util:.0%}, peak mem {mem}, cate rmse {'n/a' if rmse is None else f'{rmse:.4f}'}"
            + (f", {len(tasks)} tasks, model threads {threads}" if tasks else "")
        )
    return 0 if result.ok else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.sweep import SweepOptions, run_sweep

    if args.data:  # the flags' workload, as a preset file next to the database
        args.scenarios = str(data_preset_file(args))
    return run_sweep(SweepOptions.from_args(args))


def cmd_init_preset(args: argparse.Namespace) -> int:
    if not args.data:
        raise UserError("init-preset: give --data FILE --outcome COLUMN --treatment COLUMN")
    data_scenario(args)  # the file read and checked: the preset printed is one that loads
    print(preset_text(args), end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.store import export

    export(_db_path(args.db, must_exist=True), args.format, Path(args.out))
    print(f"wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render_report

    text = render_report(_db_path(args.db, must_exist=True), fmt=args.format)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from harness.plots import write_plots

    paths = write_plots(_db_path(args.db, must_exist=True), Path(args.out))
    print(f"wrote {len(paths)} figures to {args.out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from harness.tune import parse_objectives, run_tune
    from scenarios import load_preset

    with user_input():
        if args.data:
            scenarios = [data_scenario(args)]
        elif args.scenario is None and args.preset is None:
            raise UserError("give --scenario, --preset or --data FILE --outcome COLUMN --treatment COLUMN")
        else:
            scenarios = [resolve_scenario(args.scenario)] if args.scenario is not None else list(load_preset(args.preset))
        check_engine(args.engine)
        db = _db_path(args.db, must_exist=False)
        objectives = parse_objectives(args.objectives)
    return run_tune(
            scenarios,
            db=db,
            engine=args.engine,
            storage=args.storage,
            study=args.study,
            n_trials=args.trials,
            repeats=args.repeats,
            timeout_s=args.timeout,
            time_budget_s=args.time_budget,
            objectives=objectives,
            seed=args.seed,
            levels=args.levels,
            backends=args.backends,
            oversubscribe=args.oversubscribe,
            prune_ratio=args.prune_ratio,
            allow_concurrent=args.allow_concurrent,
            preset=args.preset,
        )


def cmd_recommend(args: argparse.Namespace) -> int:
    import contextlib

    from harness.locks import store_lock
    from harness.recommend import recommend, stored_scenario
    from harness.render.recommend import render_json, render_text

    with user_input():
        check_engine(args.engine)
        db = Path(args.db)
        if args.data:
            scenario = data_scenario(args)
            args.scenario = scenario.id
        elif args.scenario is None:
            raise UserError("give --scenario ID-or-fields, or --data FILE --outcome COLUMN --treatment COLUMN")
        else:
            scenario = stored_scenario(db, args.scenario, args.engine)
    if scenario is None:
        try:
            with user_input():
                scenario = resolve_scenario(args.scenario)
        except UsageError:
            raise UserError(
                f"--scenario {args.scenario!r} is in neither {db} nor the presets, so it was never measured; "
                "measure it first: python -m harness tune --scenario ID-or-fields (ids: python -m harness list)"
            ) from None
    log = (lambda text: print(text, file=sys.stderr)) if args.json else print
    remeasure = not args.no_remeasure
    with store_lock(db, args.allow_concurrent, "recommend") if remeasure and db.is_file() else contextlib.nullcontext():
        rec = recommend(
            db,
            scenario,
            engine=args.engine,
            top=args.top,
            repeats=args.repeats,
            remeasure=remeasure,
            alpha=args.alpha,
            seed=args.seed,
            timeout_s=args.timeout,
            host_lock=not args.allow_concurrent,
            log=log,
            scenario_text=args.scenario,
        )
    print(render_json(rec) if args.json else render_text(rec))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.plots.compare import plot_compare
    from harness.render.compare import render_compare

    db = _db_path(args.db, must_exist=True)
    text = render_compare(db, fmt=args.format)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    if args.plot and (path := plot_compare(db, Path(args.plot))):
        print(f"wrote {path}")
    return 0


# -- parser -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m harness",
        description="Measure how to split the cores of this machine to fit a meta-learner fastest.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list the scenarios of the presets")
    p.add_argument("--preset", help="only this preset")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("measure", help="measure one (engine, scenario, config) trial and print its figures")
    p.add_argument("--scenario", help="a scenario id (or unique prefix) from the presets, or fields like learner=T,n_rows=10000")
    p.add_argument("--preset", help="look the scenario id up in this preset only")
    add_data_options(p)
    p.add_argument("--config", type=_config, default=ParallelConfig(), help="'default' or model=2,folds=1,stage=1,backend=loky")
    p.add_argument("--engine", default="core", choices=list(ENGINES))
    p.add_argument("--repeats", type=_positive_int, default=3, help="fits in the trial: the first is cold, the rest warm")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds before the trial is killed and recorded as failed")
    p.add_argument("--json", action="store_true", help="print the whole trial result as JSON")
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("sweep", help="measure every split of the cores for each scenario into a results database")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", help="a preset name (default: default)")
    source.add_argument("--scenarios", help="a TOML file of scenarios (same format as the presets)")
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"SQLite results database (default: {DEFAULT_DB})")
    p.add_argument("--repeats", type=_positive_int, default=None, help="measured repeats per config, interleaved across configs (default: the preset's [sweep] repeats, else 3)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per trial before it is killed and recorded as failed")
    p.add_argument("--engine", type=_engines, default=["core"], help="comma-separated engines: core, metalearners")
    p.add_argument("--levels", type=_int_list, help="values tried at each level (default: the preset's [sweep] levels, else 1, 2, 4, ... up to the cores)")
    p.add_argument("--backends", type=_backends, default=None, help="comma-separated joblib backends (default: the preset's [sweep] backends, else loky,threading)")
    p.add_argument("--oversubscribe", type=_positive_float, default=1.0, help="keep configs asking for up to this many times the cores in threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random interleaving order")
    p.add_argument("--mem-interval", type=_positive_float, default=0.1, help="seconds between memory samples of a trial's process tree (default 0.1; shorter costs the supervisor more CPU)")
    p.add_argument("--no-report", action="store_true", help="do not print the report at the end")
    add_data_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("init-preset", help="print the preset TOML of a workload on your data file (--data ...), to edit and keep")
    add_data_options(p)
    p.set_defaults(func=cmd_init_preset)

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
    p.add_argument("--repeats", type=_positive_int, default=3, help="trials per config; the objective is their median (default 3)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per trial before it is killed and recorded as failed")
    p.add_argument("--time-budget", type=_positive_float, help="seconds per study after which no new config starts")
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"SQLite results database; also the default study storage (default: {DEFAULT_DB})")
    p.add_argument("--storage", help="an Optuna storage URL for the studies instead of the results database")
    p.add_argument("--study", help="study name (default: tune:{engine}:{scenario_id})")
    p.add_argument("--engine", default="core", choices=list(ENGINES))
    p.add_argument("--objectives", default="wall", help="wall (default), wall,cpu or wall,memory (multi-objective: prints the Pareto front)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    p.add_argument("--levels", type=_int_list, help="values tried at each level (default: 1, 2, 4, ... up to the cores)")
    p.add_argument("--backends", type=_backends, default=BACKENDS, help="comma-separated joblib backends (default: loky,threading)")
    p.add_argument("--oversubscribe", type=_positive_float, default=1.0, help="keep configs asking for up to this many times the cores in threads (default 1)")
    p.add_argument("--prune-ratio", type=_positive_float, default=1.5, help="prune a config whose first repeat is this many times slower than the best median (default 1.5; inf: never)")
    p.add_argument("--allow-concurrent", action="store_true", help="measure even while another tune/sweep measures on this machine (corrupts the timings of both)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("recommend", help="re-measure the leaders of a workload interleaved and recommend the simplest tied with the fastest")
    p.add_argument("--scenario", help="a scenario id (or unique prefix) in the database or the presets, or fields like learner=T,n_rows=10000")
    add_data_options(p)
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--engine", default="core", choices=list(ENGINES))
    p.add_argument("--top", type=_positive_int, default=3, help="leaders to re-measure (default 3)")
    p.add_argument("--repeats", type=_positive_int, default=5, help="trials per leader, interleaved (default 5)")
    p.add_argument("--alpha", type=_positive_float, default=0.05, help="significance level of the one-sided Mann-Whitney U test (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaving order and the bootstrap")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per trial before it is killed and recorded as failed")
    p.add_argument("--no-remeasure", action="store_true", help="decide on the stored measurements only")
    p.add_argument("--allow-concurrent", action="store_true", help="measure even while another tune/sweep measures on this machine (corrupts the timings)")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("export", help="export every measurement to CSV or Parquet")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="per scenario: configs ranked by median wall, speed-ups, ties, ideal bound")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--format", choices=["text", "md"], default="text")
    p.add_argument("--out", help="write to this file instead of printing")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="metalearners_core vs the metalearners package: wall, CPU and RMSE side by side")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--format", choices=["text", "md"], default="text")
    p.add_argument("--out", help="write the table to this file instead of printing")
    p.add_argument("--plot", help="also draw the ratios into this PNG")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plot", help="write the comparison figures (PNG)")
    p.add_argument("--db", default=str(DEFAULT_DB))
    p.add_argument("--out", default="results/plots")
    p.set_defaults(func=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except HarnessError as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
