"""Fixtures for the PromQL engine tests.

`promql_source_factory` turns test series into a `SampleSource`. The default is the
in-memory reference source; switching it to the real ingest path changes no test.
"""
from __future__ import annotations

from typing import Callable

import pytest

from promql.engine.source import SampleSource
from tests.promql.engine.memory_source import MemorySource, SeriesInput

SourceFactory = Callable[[SeriesInput], SampleSource]


@pytest.fixture
def promql_source_factory() -> SourceFactory:
    def make(series: SeriesInput) -> SampleSource:
        return MemorySource(series)
    return make


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    from tests.promql.engine.conformance_summary import CONFORMANCE_KEY, summary_line

    summary = config.stash.get(CONFORMANCE_KEY, None)
    if not summary:
        return

    terminalreporter.write_line(summary_line(summary))
