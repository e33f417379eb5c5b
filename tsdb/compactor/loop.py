"""Compaction passes on a timer, in a background thread: the `compactor` service and `all` mode."""
from __future__ import annotations

import logging
import threading

from tsdb.compactor.compactor import Compactor

log = logging.getLogger(__name__)


class CompactionLoop:
    """A pass every `compactor.compaction_interval`, the first one interval after start (a
    restarting process does not compact at once). `stop` waits for a running pass to finish
    its current job: every job is crash-safe anyway, so a kill only wastes work."""

    def __init__(self, compactor: Compactor) -> None:
        self.compactor = compactor
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="compactor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval_s = self.compactor.cfg.compactor.compaction_interval / 1000
        while not self._stop.wait(interval_s):
            try:
                summary = self.compactor.run_once()
                log.info("%s", summary.text())
            except Exception:
                log.exception("compaction pass failed")
                self.compactor.metrics.passes.labels(outcome="failure").inc()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
