"""Where a Flight SQL session's data comes from: the bucket's manifest, plus the samples not
in it yet: the head in `all` mode, the ingesters (heads and files they are committing) on
a querier. The recent data is read first, then the manifest (the visibility rule: a sample
being flushed is in one or the other, or both; the duplicate rule collapses both)."""
from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa

import promql
from promql.engine.source import SeriesSet
from tsdb.manifest import FileEntry
from tsdb.query.layout import LayoutCache
from tsdb.query.reader import ParquetReader
from tsdb.sql.contract import TenantData, session
from tsdb.sql.promql_function import promql_function
from tsdb.tenancy import Tenant

MIN_TIME, MAX_TIME = -(2**62), 2**62
EVERY_SERIES = promql.parse_series_selector('{__name__=~".+"}').matchers


def _schemas(bucket: Any, layouts: LayoutCache) -> Callable[[FileEntry], pa.Schema]:
    reader = ParquetReader(bucket, layouts)
    return lambda entry: reader.layout(entry).metadata.schema.to_arrow_schema()


def _engine(cfg: Any) -> Any:
    from promql.engine import Engine, EngineOptions

    return Engine(EngineOptions(cfg.promql.lookback_delta, cfg.promql.compat, cfg.querier.max_samples,
                                cfg.querier.timeout / 1000))


def local_sessions(services: Any) -> Callable[[Tenant], Any]:
    """`all` mode: the head of this process and the bucket."""
    from tsdb.api.query import storage_source
    from tsdb.query.source import StorageSource

    schemas = _schemas(services.bucket, services.layouts)
    engine = _engine(services.cfg)

    def make(tenant: Tenant):
        head = StorageSource(services, tenant, read_head=True, files=lambda manifest: ()).select(
            EVERY_SERIES, MIN_TIME, MAX_TIME)
        limit = services.cfg.limits_for(tenant).max_fetched_series_per_query
        promql_fn = promql_function(engine, lambda: storage_source(services, tenant, limit))
        return session(services.cfg.storage, TenantData(services.manifests.load(tenant), head), schemas, [promql_fn])
    return make


def querier_sessions(querier: Any) -> Callable[[Tenant], Any]:
    """A querier: what the ingesters hold that the manifest does not list yet, and the bucket."""
    from tsdb.query.merge import merge_sets

    reader = querier.bucket_reader
    schemas = _schemas(reader.bucket, reader.layouts)
    engine = _engine(querier.cfg)

    def make(tenant: Tenant):
        manifest = querier.manifests.load(tenant)

        def call(client, files, lo, hi, after) -> SeriesSet:
            return client.select(tenant, list(EVERY_SERIES), lo, hi, files=files, after_seq=after)

        every_day = frozenset(e.day for e in manifest.files)  # the gateways' share is read from the bucket here
        ingester_sets, _ = querier.fan_out(tenant, MIN_TIME, MAX_TIME, call, every_day)
        limit = querier.cfg.limits_for(tenant).max_fetched_series_per_query
        promql_fn = promql_function(engine, lambda: querier.source(tenant, limit))
        return session(querier.cfg.storage, TenantData(querier.manifests.load(tenant), merge_sets(ingester_sets)),
                       schemas, [promql_fn])
    return make
