"""PeriodicWorker: runs at an interval, survives a failing run, runs once more at stop."""

from __future__ import annotations

import threading

import pytest

from jointuse.core.periodic import PeriodicWorker


class Flaky(PeriodicWorker):
    what = "flaky work"
    thread_name = "flaky"

    def __init__(self, fail_first: int) -> None:
        super().__init__(interval=0.005)
        self.fail_first = fail_first
        self.runs = 0
        self.cleanups = 0
        self.closed = 0
        self.enough = threading.Event()

    def run_once(self) -> None:
        self.runs += 1
        if self.runs <= self.fail_first:
            raise RuntimeError(f"run {self.runs} fails")
        if self.runs >= self.fail_first + 2:
            self.enough.set()

    def on_failure(self) -> None:
        self.cleanups += 1

    def close(self) -> None:
        self.closed += 1


def test_a_failing_run_is_counted_and_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Flaky(fail_first=2) as worker:
        assert worker.enough.wait(5), "the worker stopped after its failures"
    assert worker.failures == 2 and worker.cleanups == 2
    assert isinstance(worker.last_error, RuntimeError) and "run 2 fails" in str(worker.last_error)
    assert "flaky work failed (attempt will be repeated)" in caplog.text
    assert worker.closed == 1


def test_stop_runs_once_more_even_if_never_started() -> None:
    worker = Flaky(fail_first=0)
    worker.stop()
    assert (worker.runs, worker.failures, worker.closed) == (1, 0, 1)


def test_start_twice_and_a_bad_interval_are_refused() -> None:
    worker = Flaky(fail_first=0)
    worker.start()
    try:
        with pytest.raises(RuntimeError, match="Flaky already started"):
            worker.start()
    finally:
        worker.stop()
    with pytest.raises(ValueError, match="interval must be positive"):
        PeriodicWorker(interval=0)
