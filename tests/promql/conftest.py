"""Fixtures for the PromQL engine tests.

`promql_source_factory` turns test series into a `SampleSource` through the real ingest
path: remote-write requests into the distributor of an in-process `Services`, a fresh
tenant per call, a flush to Parquet, and `StorageSource` over head plus bucket. Set
`MYTSDB_PROMQL_SOURCE=memory` to use the in-memory reference source instead.
"""
from __future__ import annotations

import itertools
import os
from typing import Callable

import pytest

from promql.engine.source import SampleSource
from tests.promql.engine.memory_source import MemorySource, SeriesInput

SourceFactory = Callable[[SeriesInput], SampleSource]


@pytest.fixture(scope="session")
def ingest_services(tmp_path_factory):
    from tsdb.config import config_from_dict
    from tsdb.services import Services

    cfg = config_from_dict({
        "data_dir": str(tmp_path_factory.mktemp("promql-ingest")),
        "ingester": {"wal_fsync": "never", "flush_check_period": "1h"},
        "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e12, "ingestion_burst_size": 10**12,
                   "creation_grace_period": "100y"},
    })
    services = Services.build(cfg)
    services.start()
    yield services
    services.ingester.stop(flush=False)


@pytest.fixture(scope="session")
def tenant_numbers() -> itertools.count:
    """Numbers for a fresh tenant per call, unique across the session (an `id()` is not:
    it is reused once its object is collected)."""
    return itertools.count()


@pytest.fixture
def promql_source_factory(request) -> SourceFactory:
    if os.environ.get("MYTSDB_PROMQL_SOURCE") == "memory":
        return MemorySource
    services = request.getfixturevalue("ingest_services")
    numbers = request.getfixturevalue("tenant_numbers")

    def make(series: SeriesInput) -> SampleSource:
        from tsdb.query.source import StorageSource
        from tsdb.remote_write.encode import encode_series
        from tsdb.tenancy import Tenant

        tenant = Tenant(f"t{os.getpid()}-{next(numbers)}")
        for chunk in _requests(series, max_samples=20_000):
            outcome = services.distributor.push(tenant, encode_series(chunk))
            assert outcome.status == 204, outcome.message
        services.ingester.flush(tenant)
        return StorageSource(services, tenant, layouts=services.layouts)
    return make


def _requests(series: SeriesInput, max_samples: int):
    """Split series into remote-write requests of about `max_samples` samples."""
    chunk, size = [], 0
    for labels, samples in series:
        chunk.append((labels, samples))
        size += len(samples)
        if size >= max_samples:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    from tests.promql.engine.conformance_summary import CONFORMANCE_KEY, summary_line

    summary = config.stash.get(CONFORMANCE_KEY, None)
    if not summary:
        return

    terminalreporter.write_line(summary_line(summary))
