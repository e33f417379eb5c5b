"""`mytsdb querier`: the Prometheus HTTP API over the fan-out read path, and the same
internal query service over Flight (so Flight clients can stream from the querier)."""
from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

from flight.server import QueryFlightServer
from flight.sql import FlightSqlService
from promql.engine.source import SeriesSet
from promql.matchers import Matcher
from tsdb.api.app import AppParts
from tsdb.config import Config
from tsdb.manifest import ManifestStore
from tsdb.querier import ClientPool, Querier
from tsdb.roles.base import Role
from tsdb.sql.guard import storage_roots
from tsdb.sql.tables import querier_sessions
from tsdb.storage.bucket import open_bucket
from tsdb.storegateway import RefreshingManifests
from tsdb.tenancy import Tenant


class QuerierRole(Role):
    name = "querier"
    ring = None  # queriers are stateless; nothing routes to them by ring

    def __init__(self, cfg: Config, instance_id: str) -> None:
        super().__init__(cfg, instance_id)
        bucket = open_bucket(cfg.storage)
        manifests = RefreshingManifests(ManifestStore(bucket), cfg.store_gateway.manifest_refresh)
        self.querier = Querier(cfg, self.watchers["ingester"], self.watchers["store-gateway"], manifests,
                               ClientPool(cfg.querier.timeout / 1000), bucket=bucket)
        self.flight: QueryFlightServer | None = None

    def start_role(self) -> None:
        self.flight = QueryFlightServer(self.flight_location, FanOutBackend(self.querier, self.cfg),
                                        registry=self.metrics.registry,
                                        sql=FlightSqlService(querier_sessions(self.querier), storage_roots(self.cfg)),
                                        sql_tokens=self.cfg.server.flight_sql_tokens)
        self.flight.serve_in_thread()

    def stop_role(self) -> None:
        if self.flight is not None:
            self.flight.shutdown()
        self.querier.close()

    def not_ready(self) -> str | None:
        ring = self.watchers["ingester"].ring()
        if not any(ring.healthy(i, allow_leaving=True) for i in ring.instances):
            return "no healthy ingester in the ring"
        return None

    def parts(self) -> AppParts:
        return self.base_parts(query_services=self, source_factory=_source, series_reader=self.querier,
                               metadata_of=self.querier.metadata)


def _source(role: QuerierRole, tenant: Tenant, max_series: int, max_resolution: int = 0) -> Any:
    return role.querier.source(tenant, max_series, max_resolution)


class FanOutBackend:
    """The internal query service answered by fanning out (a `flight.backend.QueryBackend`)."""

    def __init__(self, querier: Querier, cfg: Config) -> None:
        self.querier = querier
        self.cfg = cfg

    def select(self, tenant: Tenant, matchers: list[Matcher], start_ms: int, end_ms: int,
               files: list[str] | None, after_seq: int | None = None) -> SeriesSet:
        limit = self.cfg.limits_for(tenant).max_fetched_series_per_query
        return self.querier.source(tenant, limit).select(matchers, start_ms, end_ms)

    def series(self, tenant: Tenant, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int,
               files: list[str] | None, after_seq: int | None = None) -> pa.Table:
        return self.querier.select(tenant, matcher_sets, start_ms, end_ms)

    def label_names(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files,
                    after_seq: int | None = None) -> list[str]:
        return self.querier.label_names(tenant, matcher_sets, start_ms, end_ms)

    def label_values(self, tenant: Tenant, name: str, matcher_sets, start_ms: int, end_ms: int, files,
                     after_seq: int | None = None) -> list[str]:
        return self.querier.label_values(tenant, name, matcher_sets, start_ms, end_ms)

    def metadata(self, tenant: Tenant) -> dict[str, list[dict]]:
        return {name: [{"type": m.type, "help": m.help, "unit": m.unit}]
                for name, m in sorted(self.querier.metadata(tenant).items())}
