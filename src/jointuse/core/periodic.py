"""Background work repeated at an interval (the server's ledger sealer and log checkpointer)."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Runs :meth:`run_once` every ``interval`` seconds in a daemon thread; ``stop()`` runs it
    once more (so nothing is left undone at shutdown) and then :meth:`close`.

    A failing run (e.g. the database briefly unavailable) is logged at ERROR with its traceback,
    counted in ``failures`` (and ``consecutive_failures``, reset by a run that succeeds) and kept
    in ``last_error``; :meth:`on_failure` may clean up, and the
    next run tries again. Subclasses set ``what`` (for the log) and ``thread_name``.
    """

    what = "periodic work"
    thread_name = "periodic"

    def __init__(self, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """One run of the work (raise to report a failure)."""
        raise NotImplementedError

    def on_failure(self) -> None:
        """Called after a failing run (default: nothing)."""

    def close(self) -> None:
        """Called once by :meth:`stop`, after the last run (default: nothing)."""

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def run_guarded(self) -> None:
        """:meth:`run_once`, its failure logged and counted instead of raised."""
        try:
            self.run_once()
            self.consecutive_failures = 0
        except Exception as exc:
            self.failures += 1
            self.consecutive_failures += 1
            self.last_error = exc
            log.exception("%s failed (attempt will be repeated)", self.what)
            self.on_failure()

    @property
    def running(self) -> bool:
        """True while the worker's thread is alive (started and not stopped)."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_guarded()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.run_guarded()
        self.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
