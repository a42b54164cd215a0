"""``python -m harness``: measure, sweep, tune, recommend, export, report, plot.

Thin: each ``cmd_*`` validates what the user gave (inside :func:`harness.errors.user_input`;
paths with :mod:`harness.paths`) and hands it to its command module; the parser is
:mod:`harness.cli_parser`. Every :class:`harness.errors.HarnessError` exits with
status 2 and one line on stderr; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.cli_parser import build_parser
from harness.engines import check_engine
from harness.errors import HarnessError, UsageError, user_input
from harness.paths import db_path as _db_path, out_dir, out_file, wrote
from harness.own_data import data_preset_file, data_scenario, preset_text

UserError = UsageError  # the name the commands below raise


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
    from harness.config import ParallelConfig
    from harness.predict_config import PredictConfig
    from harness.runner import DEFAULT_VALUES
    from harness.cores import check_cores

    check_cores(args.cores)
    predict = getattr(args, "phase", "fit") == "predict"
    if args.config is None:
        args.config = PredictConfig() if predict else ParallelConfig()
    if predict != isinstance(args.config, PredictConfig):
        raise UserError(
            f"--config {args.config.id}: is a {'predict' if not predict else 'fit'} config; "
            + ("--phase predict takes p-serial, p-n2-rows, p-auto, ..." if predict else "add --phase predict, or give a fit config")
        )
    fits = args.repeats if args.repeats is not None else 1 + (args.values or DEFAULT_VALUES)
    params = {"engine": args.engine, "scenario": scenario.to_dict(), "config": args.config.to_dict()}
    if predict:
        batches = args.batch or [1000]
        if len(batches) != 1:
            raise UserError(f"--batch {','.join(map(str, batches))}: measure takes one batch size (sweep --phase predict takes several)")
        params["batch_rows"] = batches[0]
    spec = TrialSpec(
        workload="grid_search" if scenario.grid is not None else "predict" if predict else "scenario",
        params=params,
        repeats=fits,
        timeout_s=args.timeout,
        cores=args.cores,
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
        if predict:
            e = s.extras
            print(f"  value {s.index} ({s.kind}): {e.get('calls')} calls of {e.get('batch_rows')} rows in {s.wall_s:.3f} s, "
                  f"{e.get('rows_per_s') or 0:,.0f} rows/s, latency median {1000 * (e.get('latency_median_s') or 0):.3f} ms, "
                  f"p99 {1000 * (e.get('latency_p99_s') or 0):.3f} ms (learner {e.get('learner_source')})")
            continue
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

    replaced = export(_db_path(args.db, must_exist=True), args.format, Path(args.out))
    print(wrote(Path(args.out), replaced))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render_report

    if args.format == "html" and not args.out:
        raise UserError("--format html needs --out FILE: the page embeds every figure (megabytes), so it is not printed")
    db = _db_path(args.db, must_exist=True)
    out = out_file(args.out) if args.out else None
    text = render_report(db, fmt=args.format, alpha=args.alpha, min_effect=args.min_effect, rank=args.rank,
                         phase=args.phase)
    if out is not None:
        print(_write_text(out, text))
    else:
        print(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from harness.plots import write_plots

    db = _db_path(args.db, must_exist=True)
    paths = write_plots(db, out_dir(args.out), phase=getattr(args, "phase", None))
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
    from harness.cores import check_cores

    check_cores(args.cores)
    batches = _tune_predict_batches(args, scenarios) if args.phase == "predict" else None
    return run_tune(
            scenarios,
            db=db,
            engine=args.engine,
            storage=args.storage,
            study=args.study,
            n_trials=args.trials,
            repeats=args.repeats,
            values=args.values,
            min_effect=args.min_effect,
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
            cores=args.cores,
            seed_from_whatif=args.seed_from_whatif,
            **({"cluster": args.cluster} if getattr(args, "cluster", None) else {}),
            batches=batches,
        )


def _tune_predict_batches(args: argparse.Namespace, scenarios: list) -> list[int]:
    """``tune --phase predict``: the batch sizes (one study each), after the checks of what it cannot do."""
    from harness.sweep_predict import DEFAULT_BATCHES, check_batches
    from scenarios import sweep_settings

    if getattr(args, "cluster", None):
        raise UserError("--cluster with --phase predict: not supported yet (a cluster runs fit studies); drop --cluster")
    if args.seed_from_whatif:
        raise UserError("--seed-from-whatif with --phase predict: the what-if predictor models fits only; drop one")
    if grids := [s.id for s in scenarios if s.grid is not None]:
        raise UserError(f"--phase predict: {', '.join(grids)} is a grid search, which has no predict phase to tune")
    default = sweep_settings(args.preset).get("predict_batches", DEFAULT_BATCHES) if args.preset else DEFAULT_BATCHES
    with user_input():
        batches = list(check_batches(args.batch if args.batch is not None else list(default)))
    if args.study is not None and len(batches) != 1:
        raise UserError(f"--study names one study: give one --batch with it, not {','.join(map(str, batches))}")
    return batches


def cmd_recommend(args: argparse.Namespace) -> int:
    import contextlib

    from harness.locks import store_lock
    from harness.recommend import recommend, stored_scenario
    from harness.render.recommend import render_json, render_text

    if args.phase == "predict":
        return _recommend_predict(args)
    if args.predicted:
        return _recommend_predicted(args)
    from harness.cores import check_cores

    check_cores(args.cores)
    with user_input():
        check_engine(args.engine)
        db = _db_path(args.db, must_exist=False)
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
            values=args.values,
            remeasure=remeasure,
            alpha=args.alpha,
            min_effect=args.min_effect,
            rank=args.rank,
            seed=args.seed,
            timeout_s=args.timeout,
            host_lock=not args.allow_concurrent,
            log=log,
            scenario_text=args.scenario,
            cores=args.cores,
            limit_cores=args.cores,
            **{k: getattr(args, k) for k in ("cluster", "storage", "study") if getattr(args, k, None)},
        )
    print(render_json(rec) if args.json else render_text(rec))
    return 0


def _recommend_predict(args: argparse.Namespace) -> int:
    """``recommend --phase predict``: decided on the stored predict trials (harness.recommend_predict)."""
    from harness.recommend import stored_scenario
    from harness.recommend_predict import recommend_predict, render_predict_json, render_predict_text

    with user_input():
        db = _db_path(args.db, must_exist=True)
        if args.data:
            scenario_id = data_scenario(args).id
        elif args.scenario is None:
            raise UserError("give --scenario ID (a scenario with predict trials in --db)")
        else:
            scenario = stored_scenario(db, args.scenario, None, phase="predict")
            if scenario is None:
                raise UserError(f"--scenario {args.scenario!r}: no predict trials of it in {db}; measure them first: "
                                "python -m harness sweep --phase predict")
            scenario_id = scenario.id
    recs = recommend_predict(db, scenario_id, args.batch, alpha=args.alpha, min_effect=args.min_effect, rank=args.rank)
    print(render_predict_json(recs) if args.json else render_predict_text(recs))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.plots.compare import plot_compare
    from harness.render.compare import render_compare

    db = _db_path(args.db, must_exist=True)
    out = out_file(args.out) if args.out else None
    if getattr(args, "phase", "fit") == "predict":
        if args.plot:
            raise UserError("--plot: the predict comparison has no figure of its own; `plot --phase predict` draws both engines")
        from harness.analysis.predict import analyse_predict
        from harness.render.predict import render_predict_compare
        from harness.store import load_fits

        groups = analyse_predict(load_fits(db, phase="predict"), alpha=args.alpha, min_effect=args.min_effect, rank=args.rank)
        text = render_predict_compare(groups, args.format, alpha=args.alpha, min_effect=args.min_effect, rank=args.rank)
        print(_write_text(out, text + "\n") if out is not None else text)
        return 0
    plot = out_file(args.plot, "--plot") if args.plot else None
    if getattr(args, "by", "engine") == "host":
        from harness.render.hosts import render_hosts

        render_compare = render_hosts  # noqa: F811 -- the machine types side by side
        if plot is not None:
            raise UserError("--plot draws the engines' ratios; it is not available with --by host")
    text = render_compare(db, fmt=args.format, alpha=args.alpha, min_effect=args.min_effect, rank=args.rank)
    if out is not None:
        print(_write_text(out, text + "\n"))
    else:
        print(text)
    plot_existed = plot is not None and plot.exists()
    if plot is not None and (path := plot_compare(db, plot)):
        print(wrote(path, plot_existed))
    return 0


def _recommend_predicted(args: argparse.Namespace) -> int:
    """``recommend --cores P --predicted``: from what-if predictions, measuring nothing."""
    from harness.whatif.command import render_predicted_recommendation

    if args.cores is None:
        raise UserError("--predicted needs --cores P: the core count of the machine to recommend for")
    if args.scenario is None:
        raise UserError("--predicted needs --scenario ID (a workload of --db with a serial trace)")
    with user_input():
        check_engine(args.engine)
        db = _db_path(args.db, must_exist=True)
    print(render_predicted_recommendation(db, args.scenario, args.cores, args.engine, args.min_effect, args.json))
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    from harness.whatif.command import run_whatif

    db = _db_path(args.db, must_exist=True)
    plot = out_file(args.plot, "--plot") if args.plot else None
    json_out = out_file(args.json_out, "--json") if args.json_out else None
    existed = {p: p.exists() for p in (plot, json_out) if p is not None}
    print(run_whatif(db, args.scenario, args.cores, args.engine, plot, json_out, args.recalibrate), end="")
    for path, was in existed.items():
        print(wrote(path, was))
    return 0
def cmd_worker(args: argparse.Namespace) -> int:
    from harness.cluster import serve_worker

    return serve_worker(args.scheduler, args.name)


def _write_text(path: Path, text: str) -> str:
    existed = path.exists()
    path.write_text(text)
    return wrote(path, existed)


COMMANDS = {
    "list": cmd_list, "measure": cmd_measure, "sweep": cmd_sweep, "tune": cmd_tune,
    "recommend": cmd_recommend, "init-preset": cmd_init_preset, "export": cmd_export, "report": cmd_report,
    "compare": cmd_compare, "plot": cmd_plot, "whatif": cmd_whatif, "worker": cmd_worker,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(COMMANDS)
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
