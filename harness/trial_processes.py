"""The processes of one trial: how they are marked, found and ended.

A trial's child runs in its own session (one process group) with a unique tag in its
environment that every descendant inherits. This module owns what follows from that:
:data:`TAG_ENV`, killing a trial's process group, finding the trial's live processes
through three nets (group, pids seen while sampling, tag), giving stragglers a grace
before killing them (:func:`end_trial_processes`, whose description of them becomes
``TrialResult.leftovers``), and :func:`kill_trial_children` for a supervisor that is
being interrupted. The supervisor itself (:mod:`harness.trial`) only calls these.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

__all__ = ["TAG_ENV", "end_trial_processes", "kill_group", "kill_trial_children"]

TAG_ENV = "HARNESS_TRIAL_TAG"  # set in the child's environment; descendants inherit it


def kill_group(pgid: int) -> None:
    """SIGKILL the process group ``pgid``; an empty group is no error."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # group already empty


def _trial_processes(pgid: int, seen: dict[int, float], tag: str) -> list[psutil.Process]:
    """Live processes of the trial: in its group, seen in its tree, or carrying its tag.

    The three nets catch different escapees: re-parented workers (group, seen pids),
    a descendant that started its own session before we ever sampled it (tag).
    """
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    for pid, ctime in seen.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == ctime:  # not a reused pid
                found[pid] = p
        except psutil.Error:
            pass
    for p in psutil.process_iter(["environ"]):
        if p.pid == me or p.pid in found:
            continue
        try:
            if os.getpgid(p.pid) == pgid or (p.info["environ"] or {}).get(TAG_ENV) == tag:
                found[p.pid] = p
        except (OSError, psutil.Error):
            pass
    return [p for p in found.values() if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def end_trial_processes(pgid: int, seen: dict[int, float], tag: str, grace_s: float) -> list[str]:
    """Give the trial's stragglers ``grace_s`` to exit, then kill them; describe them."""
    deadline = time.monotonic() + grace_s
    procs = _trial_processes(pgid, seen, tag)
    while procs and time.monotonic() < deadline:
        time.sleep(0.05)
        procs = [p for p in procs if _alive(p)]
    if not procs:
        return []
    described = []
    for p in procs:
        try:
            described.append(f"pid {p.pid}: {' '.join(p.cmdline())[:200]}")
        except psutil.Error:
            described.append(f"pid {p.pid}")
    kill_group(pgid)
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)  # psutil checks the pid was not reused
        except psutil.Error:
            pass
    deadline = time.monotonic() + 5.0
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    still = [p.pid for p in procs if _alive(p)]
    if still:
        described.append(f"could not kill pids {still}")
    return described


def kill_trial_children() -> None:
    """Kill the process groups of trial children still running (after Ctrl-C/SIGTERM).

    ``run_trial`` starts each child in its own session, so a terminal's Ctrl-C does not
    reach it; without this it would go on fitting after the sweep stopped.
    """
    for child in psutil.Process().children():
        try:
            if child.pid == os.getpgid(child.pid) and TAG_ENV in child.environ():
                os.killpg(child.pid, signal.SIGKILL)
        except (OSError, psutil.Error):
            pass
