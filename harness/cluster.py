"""Trials on a Dask cluster: one trial per host at a time, measured there exactly as here.

``--cluster ADDRESS`` (sweep, tune, recommend) opens a :class:`ClusterPool`:
``tcp://HOST:8786`` connects to a running Dask scheduler whose workers were started
with ``python -m harness worker --scheduler tcp://HOST:8786`` (one per host: one
thread, the resource ``host=1``, no memory limit); ``local:N`` starts a
``distributed.LocalCluster`` of N single-thread worker processes on this machine, each
posing as a host of its own (hostname ``<hostname>-<worker name>`` in the trial rows
and manifests, its own trial lock file and data cache), to try the cluster path on one box.

Every trial is a task asking for the resource ``host=1``, so a host never runs two at
once. On the worker, :func:`run_on_host` takes the host's :class:`HostTrialLock`,
makes the scenario's data there (synthetic data from its seed into that host's data
cache; a user's data file arrives once per host as bytes keyed by its content hash and
is converted there) and calls the same :func:`harness.trial.run_trial` as a local
trial: a fresh child process measured by the same supervisor code. The
:class:`~harness.trial.TrialResult` (fits, task traces) and the host's manifest come
back; the local supervisor writes them to its store.

A worker that dies mid-trial (its host lost) makes the trial's future fail at once
(the scheduler is told to allow no silent retries); :meth:`ClusterPool.outcome`
turns that into a failed trial with the reason ``worker lost: ...``, and the callers
re-queue it once, preferring another host.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.locks import HOST_LOCK_ENV, HostTrialLock
from harness.trial import TrialResult, TrialSpec

__all__ = [
    "CLUSTER_HINT", "HOSTNAME_ENV", "HostOutcome", "ClusterPool", "parse_address", "run_on_host", "serve_worker",
]

#: Environment variable a trial's child reports as its hostname (set on posing workers).
HOSTNAME_ENV = "HARNESS_HOSTNAME"
CLUSTER_HINT = "--cluster needs the cluster extra: pip install 'metalearners-core[cluster]' (dask[distributed], psycopg)"
#: The resource every worker advertises once and every trial asks for.
HOST_RESOURCE = "host"
_LOST_PREFIX = "worker lost"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(CLUSTER_HINT) from None
    return distributed


def parse_address(text: str) -> tuple[str, int | None]:
    """``("local", N)`` for ``local:N``, ``(address, None)`` for a scheduler address."""
    text = str(text).strip()
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--cluster {text}: use local:N with N >= 1 worker processes")
        return "local", int(n)
    host, _, port = text.partition("://")[2].rpartition(":") if "://" in text else text.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(
            f"--cluster {text!r}: use tcp://HOST:PORT (a Dask scheduler, e.g. tcp://10.0.0.5:8786) or local:N"
        )
    return (text if "://" in text else f"tcp://{text}"), None


# ------------------------------------------------------------------ worker side

_ORIGINAL_LOCK: list[str] = []  # the lock path and data cache before a posing worker suffixed them
_HOST_MANIFEST: dict[str, dict[str, Any]] = {}


def _this_host(pose_as_host: bool) -> str:
    """The host this worker stands for; a posing worker also gets its own trial lock and
    data cache (``<lock file>.<host>``, ``<data cache>.<host>``), as a real host has."""
    if not pose_as_host:
        return os.environ.get(HOSTNAME_ENV) or socket.gethostname()
    from distributed import get_worker

    from scenarios.cache import CACHE_ENV_VAR, default_cache_dir

    host = f"{socket.gethostname()}-{get_worker().name}"
    if not _ORIGINAL_LOCK:
        from harness.locks import host_lock_path

        _ORIGINAL_LOCK.extend([str(host_lock_path()), str(default_cache_dir())])
    os.environ[HOSTNAME_ENV] = host  # the trial's child reports it (harness._worker)
    os.environ[HOST_LOCK_ENV] = f"{_ORIGINAL_LOCK[0]}.{host}"
    os.environ[CACHE_ENV_VAR] = f"{_ORIGINAL_LOCK[1]}.{host}"  # the child loads its data from there
    return host


def _host_manifest(host: str) -> dict[str, Any]:
    """This host's machine, versions and commit, collected once per worker process."""
    if host not in _HOST_MANIFEST:
        from harness.manifest import collect_manifest

        _HOST_MANIFEST[host] = {**collect_manifest(), "hostname": host}
    return _HOST_MANIFEST[host]


def _file_on_host(scenario: Any, file_bytes: bytes | None, shared_files: bool = True) -> None:
    """A data-file scenario's converted data in this host's cache (from the bytes sent once;
    from the file itself where the host sees it and ``shared_files``)."""
    from scenarios.cache import default_cache_dir
    from scenarios.filedata import FileData
    from scenarios.files import prepare_file

    data = scenario.data
    if not isinstance(data, FileData):
        return
    cache = default_cache_dir()
    if (cache / data.key / "meta.json").is_file():
        return
    if shared_files and Path(data.path).is_file():  # a shared file system: the file itself
        prepare_file(data.replace(content=None), cache)
        return
    if file_bytes is None:
        raise ValueError(f"{data.path}: not on this host and not sent with the trial")
    if hashlib.sha256(file_bytes).hexdigest() != data.content:  # checked before anything is kept
        raise ValueError(f"{data.path}: the bytes received hash to another content than the scenario's")
    local = cache / "files" / str(data.content)[:16] / Path(data.path).name  # same name: same cache key
    if not local.is_file():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(file_bytes)
        os.replace(tmp, local)
    fresh, _ = prepare_file(data.replace(path=str(local), content=None), cache)
    if fresh.key != data.key:
        raise ValueError(f"{data.path}: the bytes received hash to another content than the scenario's")


def run_on_host(spec: dict[str, Any], scenario: dict[str, Any], pose_as_host: bool,
                file_bytes: bytes | None = None) -> dict[str, Any]:
    """One trial on this worker's host (a Dask task): data made, then measured under the host lock.

    Returns plain dicts: ``result`` (:meth:`TrialResult.to_dict`), ``manifest`` (the
    host's), ``host`` (its name) and ``slot`` (the worker's address host and name).
    """
    from harness import trial as trial_module  # looked up per call, as the runner does
    from scenarios import Scenario, load_data

    from distributed import get_worker
    from distributed.comm import get_address_host

    host = _this_host(pose_as_host)
    worker = get_worker()
    slot = {"host": get_address_host(worker.address), "name": worker.name}
    workload = Scenario.from_dict(scenario)
    with HostTrialLock() as lock, lock.held():  # data generation is heavy CPU too
        _file_on_host(workload, file_bytes, shared_files=not pose_as_host)  # a posing host uses the bytes
        load_data(workload)  # cached on this host: no trial pays for it
        result = trial_module.run_trial(TrialSpec.from_dict(spec))
    return {"result": result.to_dict(), "manifest": _host_manifest(host), "host": host, "slot": slot}


def serve_worker(scheduler: str, name: str | None = None) -> int:
    """``python -m harness worker``: one correctly configured worker for this host, until stopped.

    One thread (one trial at a time), the resource ``host=1`` that every trial asks
    for, and no memory limit (the nanny never kills a trial's child for its memory:
    a trial that runs out of memory is recorded as such by the trial supervisor).
    """
    import asyncio

    distributed = _distributed()
    address, n = parse_address(scheduler)
    if n is not None:
        raise UsageError("--scheduler local:N is not a scheduler; give tcp://HOST:PORT")

    async def serve() -> None:
        async with distributed.Nanny(
            address, nthreads=1, resources={HOST_RESOURCE: 1}, memory_limit=0,
            name=name or socket.gethostname(),
        ) as nanny:
            await nanny.finished()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


# ------------------------------------------------------------------ supervisor side


@dataclass
class HostOutcome:
    """A trial's outcome from the cluster: its result, the host it ran on and its manifest.

    ``host``: the host as the scheduler knows it (address host, or address host/worker
    name for a posing local worker); the name the trial reports is in ``result.hostname``.
    ``lost``: its worker died mid-trial (the result is a failed trial saying so).
    """

    result: TrialResult
    host: str | None
    manifest: dict[str, Any] | None
    lost: bool = False


#: Run on the scheduler: a task whose worker died fails at once (KilledWorker) instead of
#: being re-run silently elsewhere; the harness records the loss and re-queues it itself.
#: A lambda, so that it travels by value (the scheduler's host needs no harness).
_NO_SILENT_RETRIES = lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0)  # noqa: E731


class ClusterPool:
    """The supervisor's connection to the cluster (see the module docstring)."""

    def __init__(self, address: str) -> None:
        distributed = _distributed()
        target, n = parse_address(address)
        self.address, self.pose = address, n is not None
        self.expected = n or 1  # hosts to wait for before the first trial
        self.cluster = None
        if n is not None:
            self.cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, resources={HOST_RESOURCE: 1},
                memory_limit=0, dashboard_address=None,
            )
            target = self.cluster
        try:
            self.client = distributed.Client(target, timeout="30s")
        except OSError as e:
            if self.cluster is not None:
                self.cluster.close()
            raise UsageError(f"--cluster {address}: cannot reach the Dask scheduler: {e}") from None
        self.client.run_on_scheduler(_NO_SILENT_RETRIES)
        self._files: dict[str, Any] = {}
        self._manifests: dict[str, dict[str, Any]] = {}

    # -- hosts
    def workers(self) -> dict[str, dict[str, Any]]:
        """Worker address -> its scheduler info, for workers advertising the host resource."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {a: w for a, w in info.items() if (w.get("resources") or {}).get(HOST_RESOURCE, 0) >= 1}

    def host_of(self, info: dict[str, Any]) -> str:
        return f"{info.get('host')}/{info.get('name')}" if self.pose else str(info.get("host"))

    def n_hosts(self, wait_s: float = 60.0) -> int:
        """Hosts (workers with the resource) now; at the start waits up to ``wait_s`` for the
        first (for all N of local:N)."""
        deadline = time.monotonic() + wait_s
        while True:
            hosts = {self.host_of(w) for w in self.workers().values()}
            if len(hosts) >= self.expected or time.monotonic() > deadline:
                self.expected = 1  # later: a lost worker is not waited for
                if not hosts:
                    raise UsageError(
                        f"--cluster {self.address}: no worker with the resource host=1 joined in {wait_s:g}s; "
                        "start one per host with: python -m harness worker --scheduler ADDRESS"
                    )
                return len(hosts)
            time.sleep(0.2)

    def cores(self) -> int:
        """The fewest cores a host offers its trials (the sweep's grid must fit every host)."""
        from harness.measure import available_cores

        self.n_hosts()
        counts = self.client.run(available_cores, workers=list(self.workers()))
        return min(counts.values()) if counts else available_cores()

    # -- trials
    def submit(self, spec: TrialSpec, scenario: Any, avoid_host: str | None = None) -> Any:
        """The trial as a task on a host (another than ``avoid_host`` where one is there)."""
        workers = None
        if avoid_host is not None:
            others = [a for a, w in self.workers().items() if self.host_of(w) != avoid_host]
            workers = others or None
        return self.client.submit(
            run_on_host, spec.to_dict(), scenario.to_dict(), self.pose, self._file_bytes(scenario),
            resources={HOST_RESOURCE: 1}, pure=False, workers=workers, allow_other_workers=workers is not None,
            key=f"trial-{uuid.uuid4().hex}",
        )

    def _file_bytes(self, scenario: Any) -> Any:
        """A data file's bytes as a cluster future, once per content (each host fetches it once)."""
        from scenarios.filedata import FileData

        data = scenario.data
        if not isinstance(data, FileData):
            return None
        if data.content not in self._files:
            self._files[data.content] = self.client.scatter(Path(data.path).read_bytes(), hash=False)
        return self._files[data.content]

    def wait_any(self, futures: list[Any]) -> list[Any]:
        """The futures of these that are done (waits for at least one)."""
        done, _ = _distributed().wait(futures, return_when="FIRST_COMPLETED")
        return list(done)

    def outcome(self, future: Any, spec: TrialSpec, submitted_at: float) -> HostOutcome:
        """What came back; a lost worker or an error on the host as a failed trial (never raises)."""
        from distributed.scheduler import KilledWorker

        try:
            payload = future.result()
        except KilledWorker as e:
            worker = e.last_worker
            info = {"host": getattr(worker, "host", None), "name": getattr(worker, "name", None)}
            host = self.host_of(info)
            manifest = self._manifests.get(host)
            name = (manifest or {}).get("hostname") or (
                f"{socket.gethostname()}-{info['name']}" if self.pose else str(info["host"]))
            reason = f"{_LOST_PREFIX}: the worker {worker.address} ({name}) died during the trial"
            return HostOutcome(self._failed(spec, reason, name, manifest, submitted_at), host, manifest, True)
        except Exception as e:  # noqa: BLE001 -- an error on the host (data, import) is a failed trial
            reason = f"error on the worker: {type(e).__name__}: {e}"[:500]
            return HostOutcome(self._failed(spec, reason, "unknown host", None, submitted_at), None, None)
        result = TrialResult.from_dict(payload["result"])
        host = self.host_of(payload["slot"])
        self._manifests[host] = payload["manifest"]
        return HostOutcome(result, host, payload["manifest"])

    @staticmethod
    def _failed(spec: TrialSpec, reason: str, hostname: str, manifest: dict[str, Any] | None,
                submitted_at: float) -> TrialResult:
        """A trial that never reported (its span: from its submission to now)."""
        return TrialResult(
            spec=spec, status="failed", reason=reason, samples=[], pid=None, hostname=hostname,
            n_cores=(manifest or {}).get("cores_available"), exit_code=None,
            wall_s=max(0.0, time.time() - submitted_at), prepare_s=None, trial_cpu_s=None,
            worker_cpu_s=None, mem_measure="unknown", started_at=submitted_at,
        )

    def cancel(self, futures: list[Any]) -> None:
        self.client.cancel(futures, force=True)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

