"""The what-if replay on hand-made task graphs whose best schedule is known, and its thread model."""

from __future__ import annotations

import math

import pytest

from harness.whatif.replay import Fit, Job, amdahl_speedup, bound, fit_serial_fraction, replay_core, replay_package


def one_fit_job(name: str, work_s: float, rows: int = 100, needs=(), stage: str = "nuisance", f: float = 0.0) -> Job:
    return Job(name, stage, (Fit(0, rows, work_s),), frozenset(needs), f)


def core(jobs, cores, workers=None, fold_workers=None, stage_workers=None, threads=1, dispatch_s=0.0):
    workers = workers or cores
    return replay_core(jobs, cores, workers, fold_workers or workers, stage_workers or workers, threads, dispatch_s)


def test_a_chain_takes_the_sum_of_its_fits_whatever_the_cores():
    jobs = [one_fit_job("a", 1.0), one_fit_job("b", 2.0, needs={"a"}), one_fit_job("c", 0.5, needs={"b"})]
    for cores in (1, 4, 64):
        assert core(jobs, cores).makespan == pytest.approx(3.5)
    spans = core(jobs, 4).spans
    assert spans[("b", 0)] == pytest.approx((1.0, 3.0))  # starts when its need ends


@pytest.mark.parametrize("n, workers", [(10, 4), (8, 4), (3, 4), (7, 1)])
def test_a_fan_out_of_equal_fits_takes_ceil_n_over_p_rounds(n, workers):
    jobs = [one_fit_job(f"j{i}", 2.0) for i in range(n)]
    assert core(jobs, workers).makespan == pytest.approx(math.ceil(n / workers) * 2.0)
    assert replay_package(jobs, workers, workers, 1, 1).makespan == pytest.approx(math.ceil(n / workers) * 2.0)


def test_one_long_fit_among_short_ones_is_started_first_and_bounds_the_makespan():
    # largest first (rows): the long fit gets a core at once, the short ones share the other
    jobs = [one_fit_job(f"short{i}", 1.0, rows=10) for i in range(8)] + [one_fit_job("long", 10.0, rows=1000)]
    schedule = core(jobs, 2)
    assert schedule.spans[("long", 0)][0] == 0.0
    assert schedule.makespan == pytest.approx(10.0)
    assert schedule.makespan == pytest.approx(bound(jobs, 2))  # optimal: max(work / P, longest)


def test_amdahl_at_one_thread_is_the_measured_duration_and_scales_by_the_form():
    job = [one_fit_job("m", 2.0, f=0.3)]
    assert core(job, 4, threads=1).makespan == pytest.approx(2.0)
    assert core(job, 4, threads=2).makespan == pytest.approx(2.0 * (0.3 + 0.7 / 2))
    assert amdahl_speedup(1, 0.9) == 1.0 and amdahl_speedup(8, 0.0) == 8.0


def test_threads_beyond_the_cores_share_them():
    jobs = [one_fit_job("a", 2.0), one_fit_job("b", 2.0)]
    # two fits of 2 threads each on 2 cores: each runs on one core's worth
    assert core(jobs, 2, workers=2, threads=2).makespan == pytest.approx(2.0)
    assert core(jobs, 4, workers=2, threads=2).makespan == pytest.approx(1.0)


def test_serial_fraction_is_recovered_from_durations_at_two_threads():
    f = 0.25
    ratio = f + (1 - f) / 2  # duration at 2 threads / at 1 thread
    assert fit_serial_fraction([(2, ratio), (2, ratio), (1, 1.0)]) == pytest.approx(f)
    assert fit_serial_fraction([(2, 1.3)]) == pytest.approx(1.6)  # slower with threads: f > 1
    assert fit_serial_fraction([(2, 3.0)]) == 2.0  # clipped
    assert amdahl_speedup(2, 1.6) == pytest.approx(1 / 1.3)
    with pytest.raises(ValueError, match="more than one thread"):
        fit_serial_fraction([(1, 1.0)])


def test_the_core_policy_releases_a_model_when_its_needs_end_the_package_waits_for_the_stage():
    jobs = [
        one_fit_job("a", 1.0), one_fit_job("b", 3.0),
        one_fit_job("t", 1.0, needs={"a"}, stage="treatment"),
    ]
    assert core(jobs, 2).makespan == pytest.approx(3.0)  # t runs beside b
    assert replay_package(jobs, 2, 2, 1, 1).makespan == pytest.approx(4.0)  # t after the barrier


def test_the_package_fits_the_overall_model_after_its_folds():
    job = Job("m", "nuisance", (Fit(None, 300, 1.0), Fit(0, 200, 1.0), Fit(1, 200, 1.0)))
    schedule = replay_package([job], 3, 1, 2, 1)
    assert schedule.spans[("m", None)][0] == pytest.approx(1.0)
    assert schedule.makespan == pytest.approx(2.0)
    # core: all three at once in a pool of three
    assert core([job], 3).makespan == pytest.approx(1.0)


def test_caps_per_level_hold():
    job = Job("m", "nuisance", tuple(Fit(k, 100, 1.0) for k in range(3)))
    assert core([job], 3, workers=3, fold_workers=1, stage_workers=3).makespan == pytest.approx(3.0)
    jobs = [one_fit_job(f"j{i}", 1.0) for i in range(4)]
    assert core(jobs, 4, workers=4, fold_workers=4, stage_workers=2).makespan == pytest.approx(2.0)


def test_dispatch_costs_are_paid_per_fit():
    jobs = [one_fit_job("a", 1.0), one_fit_job("b", 1.0, needs={"a"})]
    assert core(jobs, 2, dispatch_s=0.1).makespan == pytest.approx(2.2)


def test_bad_graphs_are_refused_by_name():
    with pytest.raises(ValueError, match="'nope'"):
        core([one_fit_job("a", 1.0, needs={"nope"})], 2)
    with pytest.raises(ValueError, match="cycle"):
        core([one_fit_job("a", 1.0, needs={"b"}), one_fit_job("b", 1.0, needs={"a"})], 2)
    with pytest.raises(ValueError, match="serial_fraction"):
        one_fit_job("a", 1.0, f=2.5)
    with pytest.raises(ValueError, match="cores=0"):
        core([one_fit_job("a", 1.0)], 0, workers=1)


def test_a_model_is_released_only_when_every_fit_it_needs_has_ended():
    needed = Job("a", "nuisance", (Fit(0, 100, 1.0), Fit(1, 100, 3.0)))
    waiting = one_fit_job("t", 1.0, needs={"a"}, stage="treatment")
    schedule = core([needed, waiting], 3)
    assert schedule.spans[("t", 0)][0] == pytest.approx(3.0)
    assert schedule.makespan == pytest.approx(4.0)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_no_replay_ends_before_the_bound_at_up_to_p_threads_a_fit(threads):
    # one long fit that scales (f=0.2) among short ones: with threads a fit, the longest fit
    # alone may end before its single-thread length, never before the bound at P threads
    jobs = [one_fit_job(f"short{i}", 1.0, rows=10, f=0.2) for i in range(3)] + [one_fit_job("long", 10.0, rows=1000, f=0.2)]
    assert core(jobs, 4, threads=threads).makespan >= bound(jobs, 4, max_threads=4) - 1e-9
    assert bound(jobs, 4, max_threads=4) < bound(jobs, 4)  # the single-thread bound is no bound here
