"""A progress bar on stderr for `mytsdb compact --once`: rows merged of rows planned."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tsdb.compactor.compactor import Progress

WIDTH = 30


class TextProgress(Progress):
    """Redrawn in place on a terminal (at most 5 times a second); elsewhere a line every 10%."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.total = 0
        self.done = 0
        self.t0 = time.monotonic()
        self._drawn = 0.0
        self._tenth = -1

    def start(self, total_rows: int) -> None:
        self.total, self.done, self.t0 = total_rows, 0, time.monotonic()
        self._draw(force=True)

    def advance(self, rows: int) -> None:
        self.done += rows
        self._draw()

    def finish(self) -> None:
        self.done = max(self.done, self.total)
        self._draw(force=True)
        if self.tty:
            self.out.write("\n")
        self.out.flush()

    def _draw(self, force: bool = False) -> None:
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        elapsed = time.monotonic() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        line = (f"[{'#' * int(frac * WIDTH):<{WIDTH}}] {frac:6.1%}  {self.done:,}/{self.total:,} rows"
                f"  {rate:,.0f} rows/s  {elapsed:.0f}s")
        if self.tty:
            now = time.monotonic()
            if force or now - self._drawn >= 0.2:
                self.out.write("\r" + line)
                self.out.flush()
                self._drawn = now
        elif force or int(frac * 10) > self._tenth:
            self._tenth = int(frac * 10)
            self.out.write(line + "\n")
            self.out.flush()
