"""The querier's read path in distributed mode: fan out over Arrow Flight, merge, dedup.

Per selector (`DistributedSource.select`), after reading the tenant's manifest, in parallel:
- every ingester of the ring, for the part of the range newer than
  `query_ingesters_within`: their heads, plus the files they flushed themselves after that
  manifest version (an ingester keeps its flushes queryable, so a sample is never
  invisible while it moves to the bucket);
- the store gateways, for every file of that manifest overlapping the range. Each file goes to
  the first healthy of its owners on the store-gateway ring; when a gateway fails, its
  files move to their next owner.

The answers merge under the duplicate rule (DESIGN §3): RF identical replicas and the
overlap between ingesters and the bucket count once. With RF=3, one failed ingester is
tolerated (RF - quorum); a second one, or a file no gateway can serve, fails the query
with `unavailable` rather than answering with silently missing data.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa

from flight.client import QueryClient
from flight.errors import BackendUnavailable
from promql.engine.source import SeriesSet
from promql.matchers import Matcher
from tsdb.config import Config
from tsdb.ingester import IN_ORDER_WINDOW_MS, MetricMetadata
from tsdb.layout.paths import day_of
from tsdb.manifest import Manifest
from tsdb.query.downsampled import MS_PER_DAY, finish, raw_values
from tsdb.query.errors import too_many_series
from tsdb.query.merge import merge_sets
from tsdb.ring import InstanceDesc, Ring, RingWatcher
from tsdb.ring.tokens import string_token
from tsdb.tenancy import Tenant

log = logging.getLogger(__name__)

FANOUT_THREADS = 16
# call(client, files, start_ms, end_ms, after_seq): one request to one ingester or store gateway
Call = Callable[[QueryClient, "list[str] | None", int, int, "int | None"], Any]


class QueryUnavailable(Exception):
    """Too many replicas or stores failed to answer: Prometheus' `unavailable` (503)."""

    error_type = "unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientPool:
    """One Flight client per address, reused across queries."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._clients: dict[str, QueryClient] = {}
        self._lock = threading.Lock()

    def get(self, addr: str) -> QueryClient:
        with self._lock:
            client = self._clients.get(addr)
            if client is None:
                client = self._clients[addr] = QueryClient(addr, timeout_s=self.timeout_s)
            return client

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


@dataclass
class Querier:
    cfg: Config
    ingesters: RingWatcher
    gateways: RingWatcher
    manifests: Any  # `load(tenant) -> Manifest` (a refreshing cache of the tenant's manifest)
    clients: ClientPool
    clock: Callable[[], float] = time.time
    bucket: Any = None  # read directly for downsampled days (`DistributedSource.select_hinted`)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(FANOUT_THREADS, thread_name_prefix="fanout")
        self.bucket_reader = BucketReader(self.cfg, self.bucket, self.manifests) if self.bucket is not None else None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.clients.close()

    def source(self, tenant: Tenant, max_series: int = 0, max_resolution: int = 0) -> "DistributedSource":
        return DistributedSource(self, tenant, max_series, max_resolution)

    # -- fan-out ------------------------------------------------------------------------

    def fan_out(self, tenant: Tenant, start_ms: int, end_ms: int, call: Call,
                skip_days: frozenset[str] = frozenset()) -> tuple[list[Any], list[Any]]:
        """Run `call(client, files, start, end, after_seq)` on the ingesters (files=None) and
        the store gateways (their share of the files); returns (ingester answers, gateway
        answers), each in a deterministic order (ascending write priority).

        The manifest is read first: the gateways read its files, and the ingesters, told its
        version, add only their heads and the files they committed after it. So each flushed
        sample comes once from the bucket, not once more from each of its RF ingesters.
        Files of `skip_days` are not read (the querier reads those days downsampled)."""
        manifest = self.manifests.load(tenant)
        needed, ingester_jobs = self._ingester_jobs(tenant, start_ms, end_ms)
        ingester_futures = [(inst, self._pool.submit(call, self.clients.get(inst.flight_addr), None, lo, hi,
                                                     manifest.version))
                            for inst, lo, hi in ingester_jobs]
        gateway_answers = self._gateway_answers(tenant, manifest, start_ms, end_ms, call, skip_days)
        answers, failures = [], []
        for inst, future in ingester_futures:
            try:
                answers.append(future.result())
            except BackendUnavailable as e:
                failures.append(f"{inst.id}: {e}")
        ring = self.ingesters.ring()
        unhealthy = [i.id for i in ring.instances if not ring.healthy(i, allow_leaving=True)]
        rf = min(self.cfg.ring.replication_factor, len(ring.instances))
        max_errors = rf - (rf // 2 + 1)
        if needed and (len(failures) + len(unhealthy) > max_errors or not ring.instances):
            raise QueryUnavailable(
                f"too many unhealthy ingesters: {len(failures) + len(unhealthy)} failed or unhealthy, at most "
                f"{max_errors} tolerated with replication factor {rf} ("
                + "; ".join(failures + [f"{i}: unhealthy" for i in unhealthy]) + ")")
        return answers, gateway_answers

    def _ingester_jobs(self, tenant: Tenant, start_ms: int, end_ms: int
                       ) -> tuple[bool, list[tuple[InstanceDesc, int, int]]]:
        """Ingesters are asked for what their heads and recent flushes can hold: the last
        `query_ingesters_within`, or further back when the tenant's out-of-order window
        lets older samples into the head (backfill), so no head sample is ever skipped."""
        ooo = self.cfg.limits_for(tenant).out_of_order_time_window
        horizon = max(self.cfg.querier.query_ingesters_within, ooo + IN_ORDER_WINDOW_MS)
        lo = max(start_ms, int(self.clock() * 1000) - horizon)
        if end_ms < lo:
            return False, []
        ring = self.ingesters.ring()
        return True, [(inst, lo, end_ms) for inst in ring.instances if ring.healthy(inst, allow_leaving=True)]

    def _gateway_answers(self, tenant: Tenant, manifest: Manifest, start_ms: int, end_ms: int, call: Call,
                         skip_days: frozenset[str] = frozenset()) -> list[Any]:
        files = [e.path for e in manifest.overlapping(start_ms, end_ms) if e.day not in skip_days]
        if not files:
            return []
        ring = self.gateways.ring()
        candidates = {path: _owners(ring, path, self.cfg.store_gateway.replication_factor) for path in files}
        answers: list[Any] = []
        tried: dict[str, set[str]] = {path: set() for path in files}
        pending = list(files)
        errors: list[str] = []
        while pending:
            assignment: dict[str, list[str]] = {}
            addrs: dict[str, str] = {}
            for path in pending:
                owner = next((o for o in candidates[path] if o.id not in tried[path]), None)
                if owner is None:
                    raise QueryUnavailable(
                        f"no store gateway could serve {len(pending)} file(s), e.g. {path}: "
                        + ("; ".join(errors) if errors else "no healthy store gateway owns it"))
                assignment.setdefault(owner.id, []).append(path)
                addrs[owner.id] = owner.flight_addr
            futures = {gid: self._pool.submit(call, self.clients.get(addrs[gid]), paths, start_ms, end_ms, None)
                       for gid, paths in sorted(assignment.items())}
            pending = []
            for gid, future in futures.items():
                try:
                    answers.append(future.result())
                except BackendUnavailable as e:
                    errors.append(f"{gid}: {e}")
                    log.warning("store gateway %s failed; retrying its files elsewhere: %s", gid, e)
                    for path in assignment[gid]:
                        tried[path].add(gid)
                    pending.extend(assignment[gid])
        return answers

    # -- read API (what /api/v1/series, /labels and /label/<name>/values call) ---------------

    def select(self, tenant: Tenant, matcher_sets: Sequence[Sequence[Matcher]], start: int, end: int) -> pa.Table:
        """Distinct series (series_id, labels) matching any of the matcher sets."""
        def call(client: QueryClient, files: list[str] | None, lo: int, hi: int, after: int | None) -> pa.Table:
            return client.series(tenant, [list(m) for m in matcher_sets], lo, hi, files=files, after_seq=after)

        ingester_tables, gateway_tables = self.fan_out(tenant, start, end, call)
        tables = [t for t in gateway_tables + ingester_tables if t.num_rows]
        if not tables:
            return _series_schema_table()
        table = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
        _, first = np.unique(table.column("series_id").to_numpy(), return_index=True)
        return table.take(pa.array(first))

    def label_names(self, tenant: Tenant, matcher_sets: Sequence[Sequence[Matcher]], start: int, end: int
                    ) -> list[str]:
        def call(client: QueryClient, files: list[str] | None, lo: int, hi: int, after: int | None) -> list[str]:
            return client.label_names(tenant, [list(m) for m in matcher_sets], lo, hi, files=files, after_seq=after)
        return _union(*self.fan_out(tenant, start, end, call))

    def label_values(self, tenant: Tenant, name: str, matcher_sets: Sequence[Sequence[Matcher]], start: int,
                     end: int) -> list[str]:
        def call(client: QueryClient, files: list[str] | None, lo: int, hi: int, after: int | None) -> list[str]:
            return client.label_values(tenant, name, [list(m) for m in matcher_sets], lo, hi, files=files,
                                       after_seq=after)
        return _union(*self.fan_out(tenant, start, end, call))

    def metadata(self, tenant: Tenant) -> dict[str, MetricMetadata]:
        """Metric metadata lives on the ingesters that received it: the union of theirs."""
        ring = self.ingesters.ring()
        out: dict[str, MetricMetadata] = {}
        for inst in ring.instances:
            if not ring.healthy(inst, allow_leaving=True):
                continue
            try:
                entries = self.clients.get(inst.flight_addr).metadata(tenant)
            except BackendUnavailable:
                continue
            for name, items in entries.items():
                if items and name not in out:
                    m = items[0]
                    out[name] = MetricMetadata(m.get("type", ""), m.get("help", ""), m.get("unit", ""))
        return out


@dataclass
class DistributedSource:
    """`SampleSource` of one query in distributed mode."""

    querier: Querier
    tenant: Tenant
    max_series: int = 0
    max_resolution: int = 0  # `max_source_resolution` (ms); 0: raw data only

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int,
               skip_days: frozenset[str] = frozenset()) -> SeriesSet:
        def call(client: QueryClient, files: list[str] | None, lo: int, hi: int, after: int | None) -> SeriesSet:
            return client.select(self.tenant, list(matchers), lo, hi, files=files, after_seq=after)

        ingester_sets, gateway_sets = self.querier.fan_out(self.tenant, start_ms, end_ms, call, skip_days)
        # Ascending write priority: the bucket, then the ingesters (their heads are newer).
        result = merge_sets(gateway_sets + ingester_sets)
        if self.max_series > 0 and result.n_series > self.max_series:
            raise too_many_series(self.max_series)
        return result

    def select_hinted(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, func: str) -> SeriesSet:
        """With `max_source_resolution`: the downsampled days read here, straight from the
        bucket, the other days fanned out as raw data; one place merges them and stitches
        counters across days (a store gateway holds only some of the days)."""
        reader = self.querier.bucket_reader
        if self.max_resolution <= 0 or reader is None:
            return self.select(matchers, start_ms, end_ms)
        from tsdb.query.source import StorageSource

        local = StorageSource(reader, self.tenant, self.max_series, layouts=reader.layouts, read_head=False,
                              files=lambda manifest: (), max_resolution=self.max_resolution)
        sel = local.read(matchers, start_ms, end_ms, None, func)
        if not sel.days:
            return self.select(matchers, start_ms, end_ms)
        skip = frozenset(day_of(d * MS_PER_DAY) for d in sel.days)
        raw = self.select(matchers, start_ms, end_ms, skip)
        raw = replace(raw, values=raw_values(raw.values, sel.aggregate))
        merged = merge_sets([sel.result, raw])
        if self.max_series > 0 and merged.n_series > self.max_series:
            raise too_many_series(self.max_series)
        return finish(replace(sel, result=merged))


@dataclass
class BucketReader:
    """What a `StorageSource` needs to read the bucket itself (no head, no disk cache)."""

    cfg: Config
    bucket: Any
    manifests: Any

    def __post_init__(self) -> None:
        from tsdb.query.layout import LayoutCache
        from tsdb.reader import SeriesReader

        self.reader = SeriesReader(None, self.bucket, self.manifests)  # type: ignore[arg-type]
        self.layouts = LayoutCache()
        self.chunk_cache = None
        self.ingester = None


def _owners(ring: Ring, path: str, rf: int) -> list[InstanceDesc]:
    """The healthy owners of a file on the store-gateway ring, in ring order."""
    if not ring.instances:
        return []
    idx = ring.owners(np.array([string_token(path)], np.uint32), min(rf, len(ring.instances)))[0]
    return [ring.instances[i] for i in idx if ring.healthy(ring.instances[i], allow_leaving=True)]


def _union(first: list[list[str]], second: list[list[str]]) -> list[str]:
    return sorted(set().union(*first, *second))


def _series_schema_table() -> pa.Table:
    from tsdb.head import SERIES_SCHEMA
    return SERIES_SCHEMA.empty_table()
