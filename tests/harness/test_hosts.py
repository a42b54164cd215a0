"""Machine types side by side: ``compare --by host`` and the report per machine type, on a
store holding trials of two machine types (as a cluster of two kinds of hosts writes it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.cli import main
from harness.manifest import collect_manifest, machine_type

from .test_store import SCENARIO, SERIAL, fit, result

FAST = SERIAL.__class__(2, 1, 1, "loky")


def two_machine_store(tmp_path: Path) -> tuple[Path, dict, dict]:
    """Serial and m2-f1-s1 on a small and a big machine, 2 trials each; the big one 4x faster."""
    from harness.store import Store

    small = {**collect_manifest(), "hostname": "small-1", "cpu_model": "Small CPU", "cores_available": 2,
             "memory_total_mb": 8192.0}
    big = {**small, "hostname": "big-1", "cpu_model": "Big CPU", "cores_available": 64, "memory_total_mb": 262144.0}
    db = tmp_path / "hosts.db"
    with Store(db) as store:
        run = store.start_run(collect_manifest(), "sweep --cluster local:2", None)
        for manifest, scale in ((small, 1.0), (big, 0.25)):
            for repeat in range(2):
                for config, wall in ((SERIAL, 2.0), (FAST, 1.0)):
                    walls = [wall * scale * (1 + 0.01 * (2 * repeat - 1))] * 3  # medians: wall * scale
                    trial = result([fit(0, walls[0], tasks=False), fit(1, walls[1], tasks=False),
                                    fit(2, walls[2], tasks=False)])
                    store.record_trial(run, "core", SCENARIO, config, repeat + (2 if scale < 1 else 0),
                                       replace(trial, hostname=manifest["hostname"]), host_manifest=manifest)
    return db, small, big


def test_compare_by_host_puts_machine_types_side_by_side(tmp_path: Path, capsys):
    db, small, big = two_machine_store(tmp_path)
    assert main(["compare", "--db", str(db), "--by", "host", "--format", "md"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| config"))
    assert machine_type(small) in header and machine_type(big) in header  # one column per machine type
    assert "small-1" in out and "big-1" in out
    assert f"- {machine_type(big)}: fastest {FAST.id}, 0.250 s (the fastest machine)" in out
    assert f"- {machine_type(small)}: fastest {FAST.id}, 1.000 s, x4.00 the fastest machine's" in out


def test_report_gives_one_report_per_machine_type(tmp_path: Path, capsys):
    db, small, big = two_machine_store(tmp_path)
    assert main(["report", "--db", str(db), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert f"# Machine type: {machine_type(big)}" in out and f"# Machine type: {machine_type(small)}" in out
    assert main(["compare", "--db", str(db), "--by", "host", "--plot", str(tmp_path / "x.png")]) == 2
    assert "--plot" in capsys.readouterr().err
