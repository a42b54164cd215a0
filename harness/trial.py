"""One trial: a workload measured in a fresh child process (the supervisor side).

Modelled on pyperf's supervisor/worker split. The supervisor

1. starts ``python -m harness._worker`` in its own session / process group, with a
   unique tag in its environment (inherited by every descendant);
2. sends the :class:`TrialSpec` as JSON on stdin;
3. samples the child's process tree memory from a thread of its own while waiting,
   remembering every pid it sees, and enforces the timeout;
4. reaps the child with ``wait4``, whose rusage covers the child and every
   descendant it reaped (the cross-check ``trial_cpu_s``);
5. makes sure no process of the trial survives (process group, pids seen while
   sampling, environment tag: :mod:`harness.trial_processes`), killing and
   reporting any that do;
6. joins the child's report (fit windows, wall, tree CPU) with the memory samples
   into a :class:`TrialResult`.

The supervisor never runs a fit itself, so nothing of a fit is ever booked to it.
Run trials one after another: concurrent trials would measure each other's load.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import IO, Any, Literal, TypeVar

from harness.cores import cpu_set, limit_env, pin
from harness.measure import TreeMemorySampler

from harness.trial_processes import TAG_ENV, end_trial_processes, kill_group

__all__ = ["FitSample", "TrialResult", "TrialSpec", "run_trial", "TAG_ENV"]

_STDERR_TAIL = 16_384  # bytes of the child's stderr kept in the result
_EXIT_GRACE_S = 3.0  # how long the stragglers of a trial whose child exited may take to exit
_R = TypeVar("_R", bound="_Record")


class _Record:
    """The dict round trip of the records below; ``from_dict`` rejects unknown fields."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[_R], d: dict[str, Any]) -> _R:
        return cls(**_known_fields(cls, d))


def _known_fields(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; allowed: {sorted(names)}")
    return dict(d)


@dataclass(frozen=True)
class TrialSpec(_Record):
    """What to measure: a workload, its params, and how.

    ``repeats`` counts fits: the first is ``cold`` (pool start-up, first-call costs
    included), the rest ``warm``. ``timeout_s`` bounds the whole child, start-up and
    ``prepare()`` included. ``env`` is added to the child's environment (e.g.
    ``OMP_NUM_THREADS``). ``mem_measure`` "auto" is PSS where readable, else RSS;
    ``mem_interval_s`` is the sampling period (shorter: finer peaks, but more
    supervisor CPU taken from the cores the fit runs on). ``cores``: pin the child (and
    everything it starts) to that many CPUs of this machine (:mod:`harness.cores`);
    None: every CPU this process may use.
    """

    workload: str
    params: dict[str, Any] = field(default_factory=dict)
    repeats: int = 3
    timeout_s: float = 600.0
    mem_interval_s: float = 0.025
    mem_measure: Literal["auto", "pss", "rss"] = "auto"
    env: dict[str, str] = field(default_factory=dict)
    cores: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.workload, str) or not self.workload:
            raise ValueError(f"workload must be a non-empty name, got {self.workload!r}")
        if not isinstance(self.params, dict):
            raise TypeError(f"params must be a dict, got {type(self.params).__name__}")
        try:
            json.dumps(self.params)
        except (TypeError, ValueError) as e:
            raise ValueError(f"params must be JSON-serialisable: {e}") from e
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(f"repeats must be an int >= 1, got {self.repeats!r}")
        for name in ("timeout_s", "mem_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.mem_measure not in ("auto", "pss", "rss"):
            raise ValueError(f"mem_measure must be 'auto', 'pss' or 'rss', got {self.mem_measure!r}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()):
            raise TypeError(f"env must map str to str, got {self.env!r}")
        if self.cores is not None and (isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 1):
            raise ValueError(f"cores must be None or an int >= 1, got {self.cores!r}")


@dataclass(frozen=True)
class FitSample(_Record):
    """One timed ``run_once()``.

    ``wall_s``: perf_counter around ``run_once`` only. ``cpu_s``: CPU of the child's
    whole process tree over the fit. ``cpu_util``: cpu_s / (wall_s * n_cores).
    Memory in MiB (2**20 bytes), of the tree, measure ``mem_measure`` ("pss"/"rss"):
    ``peak_mem_mb`` is the max over the ``mem_samples`` samples inside the fit
    (None when the fit was shorter than the sampling interval), ``base_mem_mb`` the
    last sample before it (so peak - base is what the fit itself added).
    ``t_start``/``t_end``: the fit window in ``time.monotonic()`` seconds.
    """

    index: int
    kind: Literal["cold", "warm"]
    wall_s: float
    cpu_s: float
    cpu_util: float
    peak_mem_mb: float | None
    base_mem_mb: float | None
    mem_measure: str
    mem_samples: int
    t_start: float
    t_end: float
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialResult(_Record):
    """The outcome of one trial.

    ``status`` "failed" comes with a ``reason``: "timeout after Xs", "crashed: exit
    code N", "crashed: signal SIGSEGV", "out of memory: ...", "error: <Type>: <msg>".
    Fits completed before a failure (even a crash or timeout) are kept in ``samples``.

    ``trial_cpu_s`` is the supervisor's independent figure: rusage of the reaped
    child, i.e. its own CPU plus that of every descendant it reaped (its loky
    workers, once it shut the pool down). It spans the whole child (start-up,
    imports, prepare), so ``sum(s.cpu_s for s in samples) <= trial_cpu_s``.
    ``worker_cpu_s`` is the child's own tree meter read at its exit; the two agree
    when every descendant was reaped inside the tree. ``leftovers`` lists processes
    of the trial still alive after it ended, which the supervisor killed.
    ``sampler_cpu_s`` is the CPU the supervisor's memory sampling used meanwhile
    (not in any fit's figures, but it competed with the fit for the cores).
    ``started_at`` (``time.time()``) and ``wall_s`` span the whole trial, start-up to
    the last straggler's end: what the store records as its start and end.
    ``oversubscription`` is the text of the library's ``OversubscriptionWarning``
    where a fit of the trial gave one (its settings ask for more threads than cores).
    """

    spec: TrialSpec
    status: Literal["ok", "failed"]
    reason: str | None
    samples: list[FitSample]
    pid: int | None
    hostname: str
    n_cores: int | None
    exit_code: int | None
    wall_s: float
    prepare_s: float | None
    trial_cpu_s: float | None
    worker_cpu_s: float | None
    mem_measure: str
    sampler_cpu_s: float = 0.0
    traceback: str | None = None
    stderr_tail: str = ""
    leftovers: list[str] = field(default_factory=list)
    started_at: float | None = None  # time.time() when the child was started
    oversubscription: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        d = _known_fields(cls, d)
        return cls(
            **{
                **d,
                "spec": TrialSpec.from_dict(d["spec"]),
                "samples": [FitSample.from_dict(s) for s in d["samples"]],
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> TrialResult:
        return cls.from_dict(json.loads(text))


# ------------------------------------------------------------------ supervisor


def run_trial(spec: TrialSpec) -> TrialResult:
    """Measure ``spec`` in a fresh child process; never raises for a failed trial."""
    tag = uuid.uuid4().hex
    started_at = time.time()  # the trial's span on the wall clock (stored start/end)
    started = time.perf_counter()
    limit = {} if spec.cores is None else {"preexec_fn": pin(cpu_set(spec.cores))}  # before any import
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness._worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own process group: one killpg reaches the tree
        env={**os.environ, **spec.env, **(limit_env(spec.cores) if spec.cores else {}), TAG_ENV: tag},
        **limit,
    )
    sampler = TreeMemorySampler(
        proc.pid, interval_s=spec.mem_interval_s, measure=spec.mem_measure
    ).start()
    out, err = _Drain(proc.stdout, keep=None), _Drain(proc.stderr, keep=_STDERR_TAIL)
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec.to_dict()).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the child died at once; its exit status tells why

    timed_out = not _wait_exit(proc.pid, time.monotonic() + spec.timeout_s)
    if timed_out:
        kill_group(proc.pid)
        _wait_exit(proc.pid, None)
    sampler.stop()  # before reaping: the child's pid cannot be reused while a zombie
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it is reaped
    trial_cpu_s = rusage.ru_utime + rusage.ru_stime

    fits, report = _parse_messages(out.text(timeout=2.0))
    # A hung trial's processes are killed at once. Where the child exited, finished or
    # crashed, its stragglers get a grace: a resource tracker that loky restarted while
    # a broken pool was torn down exits by itself once it sees the child gone.
    leftovers = end_trial_processes(proc.pid, sampler.seen, tag, grace_s=0.0 if timed_out else _EXIT_GRACE_S)
    wall_s = time.perf_counter() - started
    stderr_tail = err.text(timeout=1.0)

    status_, reason = _classify(proc.returncode, report, timed_out, spec.timeout_s)
    report = report or {}
    n_cores = report.get("n_cores")
    samples = [_fit_sample(f, n_cores, sampler) for f in fits]
    traceback = report.get("traceback")
    if traceback is None and status_ == "failed" and not report:
        traceback = stderr_tail[-4000:] or None  # e.g. the child could not even import
    return TrialResult(
        spec=spec,
        status=status_,
        reason=reason,
        samples=samples,
        pid=proc.pid,
        hostname=report.get("hostname", socket.gethostname()),
        n_cores=n_cores,
        exit_code=proc.returncode,
        wall_s=wall_s,
        started_at=started_at,
        prepare_s=report.get("prepare_s"),
        trial_cpu_s=trial_cpu_s,
        worker_cpu_s=report.get("tree_cpu_end_s"),
        mem_measure=sampler.measure,
        sampler_cpu_s=sampler.cpu_s,
        traceback=traceback,
        stderr_tail=stderr_tail,
        leftovers=leftovers,
        oversubscription=report.get("oversubscription"),
    )


def _fit_sample(fit: dict[str, Any], n_cores: int | None, sampler: TreeMemorySampler) -> FitSample:
    mem = sampler.window(fit["t_start"], fit["t_end"])
    wall, cpu = fit["wall_s"], fit["cpu_s"]
    return FitSample(
        index=fit["index"],
        kind=fit["kind"],
        wall_s=wall,
        cpu_s=cpu,
        cpu_util=cpu / (wall * n_cores) if wall > 0 and n_cores else float("nan"),
        peak_mem_mb=mem.peak_mb,
        base_mem_mb=mem.base_mb,
        mem_measure=sampler.measure,
        mem_samples=mem.n_samples,
        t_start=fit["t_start"],
        t_end=fit["t_end"],
        extras=fit.get("extras", {}),
    )


def _classify(
    returncode: int, report: dict[str, Any] | None, timed_out: bool, timeout_s: float
) -> tuple[Literal["ok", "failed"], str | None]:
    if timed_out:
        return "failed", f"timeout after {timeout_s:g}s"
    if report is not None and report.get("status") == "failed":
        return "failed", report.get("reason") or "error: unknown"
    if report is not None and returncode == 0:
        return "ok", None
    if returncode == -signal.SIGKILL:
        # We did not send it (no timeout): on Linux that is almost always the OOM killer.
        return "failed", "out of memory: killed by SIGKILL from outside the harness (probably the kernel OOM killer)"
    if returncode < 0:
        return "failed", f"crashed: signal {signal.Signals(-returncode).name}"
    if returncode > 0:
        return "failed", f"crashed: exit code {returncode}"
    return "failed", "crashed: exit code 0 without a result"


def _parse_messages(text: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The child's JSON lines: its fits, and its final report (None if it died first)."""
    fits, report = [], None
    for line in text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if "fit" in message:
            fits.append(message["fit"])
        elif "report" in message:
            report = message["report"]
    return fits, report


def _wait_exit(pid: int, deadline: float | None) -> bool:
    """Wait until ``pid`` (our child) has exited, without reaping it."""
    while True:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


class _Drain:
    """Reads a pipe to EOF in a thread (a full pipe would block the child)."""

    def __init__(self, stream: IO[bytes] | None, keep: int | None) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._keep, self._size = keep, 0
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self._chunks.append(chunk)
                self._size += len(chunk)
                while self._keep is not None and self._size - len(self._chunks[0]) >= self._keep:
                    self._size -= len(self._chunks.popleft())

    def text(self, timeout: float) -> str:
        self._thread.join(timeout)
        data = b"".join(list(self._chunks))
        if self._keep is not None:
            data = data[-self._keep :]
        return data.decode("utf-8", errors="replace")
