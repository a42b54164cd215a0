"""The child side of a trial: ``python -m harness._worker`` (see harness.trial).

Reads a TrialSpec as JSON on stdin, runs the workload and reports on the original
stdout in JSON lines: ``{"fit": {...}}`` as soon as each fit is done (so fits
survive a later crash or timeout), then one ``{"report": {...}}`` and exit.
Everything else that prints -- Python or C code, this process or its workers -- goes
to stderr, so the channel cannot be corrupted.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import traceback
from time import monotonic, perf_counter
from typing import IO, Any

from harness.measure import TreeCpuMeter, available_cores, become_subreaper, die_with_parent
from harness.pools import stop_loky_pools
from harness.trial import TrialSpec
from harness.workloads import make_workload

_TRACEBACK_TAIL = 4000  # characters
_REASON_MAX = 500


def main() -> None:
    result_fd = os.dup(1)  # private: os.dup'ed fds are not inherited by workers
    os.dup2(2, 1)  # fd 1 now writes to stderr, for C code and subprocesses too
    sys.stdout = sys.stderr
    become_subreaper()  # orphaned descendants stay in our tree (CPU and cleanup)
    die_with_parent()  # a killed supervisor takes the trial in flight with it

    report: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "traceback": None,
        "pid": os.getpid(),
        "hostname": os.environ.get("HARNESS_HOSTNAME") or socket.gethostname(),  # a posing cluster worker
        "n_cores": available_cores(),
        "prepare_s": None,
    }
    meter = TreeCpuMeter()
    out = os.fdopen(result_fd, "w")
    try:
        spec = TrialSpec.from_dict(json.loads(sys.stdin.read()))
        _run(spec, meter, report, out)
    except BaseException as e:  # noqa: BLE001 -- every failure becomes a report
        report.update(
            status="failed",
            reason=failure_reason(e),
            traceback=traceback.format_exc()[-_TRACEBACK_TAIL:],
        )
    _shutdown_pools(kill=report["status"] != "ok")
    report["tree_cpu_end_s"] = meter.read()  # pools reaped: their CPU is in ours now
    report["meter_retries"] = meter.retries

    _send(out, report=report)
    out.close()
    sys.stderr.flush()
    # Skip interpreter teardown and atexit hooks: the pools are already down, and a
    # stuck finaliser must not turn a measured trial into a timeout.
    os._exit(0 if report["status"] == "ok" else 1)


def failure_reason(e: BaseException) -> str:
    """One line saying why a fit failed, in the supervisor's vocabulary."""
    text = " ".join(f"{type(e).__name__}: {e}".split())[:_REASON_MAX]
    if isinstance(e, MemoryError):
        return f"out of memory: {text}"
    if type(e).__name__ == "TerminatedWorkerError":  # loky: a worker process died
        codes = re.search(r"exit codes of the workers are (\{.*?\})", str(e))
        codes_text = f" (exit codes {codes.group(1)})" if codes else ""
        if "SIGKILL" in str(e):
            return (
                "out of memory: a worker process was killed by SIGKILL, probably by the "
                f"kernel OOM killer{codes_text}"
            )
        return f"crashed: a worker process died{codes_text}"
    return f"error: {text}"


def _send(out: IO[str], **message: Any) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _run(spec: TrialSpec, meter: TreeCpuMeter, report: dict[str, Any], out: IO[str]) -> None:
    workload = make_workload(spec.workload, spec.params)
    t0 = perf_counter()
    workload.prepare()
    report["prepare_s"] = perf_counter() - t0
    extras = getattr(workload, "result_extras", None)
    for i in range(spec.repeats):
        cpu0 = meter.read()
        m0, w0 = monotonic(), perf_counter()
        workload.run_once()
        w1, m1 = perf_counter(), monotonic()
        cpu1 = meter.read()
        if warning := getattr(workload, "oversubscription", None):  # the library's, kept with the trial
            report["oversubscription"] = warning
        _send(
            out,
            fit={
                "index": i,
                "kind": "cold" if i == 0 else "warm",
                "wall_s": w1 - w0,
                "cpu_s": cpu1 - cpu0,
                "t_start": m0,
                "t_end": m1,
                "extras": extras() if extras else {},
            },
        )
    close = getattr(workload, "close", None)
    if close:
        close()


def _shutdown_pools(kill: bool) -> None:
    """Stop joblib's reusable loky pool and the resource trackers, reaping them, so
    their CPU lands in this process's rusage and no process outlives the trial."""
    stop_loky_pools(kill)
    # Reap adopted orphans that already exited (we are their subreaper).
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    main()
