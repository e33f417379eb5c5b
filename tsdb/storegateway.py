"""The store gateway's library object: the tenant's Parquet files, answered over Flight.

It loads only the requested tenant's manifest, reusing it for `manifest_refresh`; a
request naming a file the cached manifest lacks (a fresh flush) re-reads it once.
Footers are fetched when a file is first read and kept in memory (`LayoutCache`), series
sidecars likewise (`SidecarCache`); the projected column chunks of each row group read go
to a local disk cache bounded in bytes (`DiskCache`, least recently used out).
"""
from __future__ import annotations

import threading
import time
from typing import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from flight.backend import LocalBackend
from promql.matchers import Matcher
from tsdb.config import Config
from tsdb.manifest import FileEntry, Manifest, ManifestStore
from tsdb.query.layout import LayoutCache
from tsdb.reader import SeriesReader
from tsdb.storage.bucket import Bucket
from tsdb.storage.diskcache import DiskCache
from tsdb.tenancy import Tenant


class RefreshingManifests:
    """`ManifestStore.load` with a per-tenant time-to-live.

    Files that leave the manifest (replaced by compaction, or past retention) stay known as
    `retired` for `retired_ms`: a querier that planned on a slightly older manifest still
    names them, and they stay in the bucket for the compactor's `deletion_delay`."""

    def __init__(self, store: ManifestStore, refresh_ms: int, retired_ms: int = 0) -> None:
        self.store = store
        self.refresh_s = refresh_ms / 1000
        self.retired_s = retired_ms / 1000
        self._cache: dict[str, tuple[float, Manifest]] = {}
        self._retired: dict[str, dict[str, tuple[float, FileEntry]]] = {}
        self._lock = threading.Lock()

    def load(self, tenant: Tenant) -> Manifest:
        with self._lock:
            hit = self._cache.get(tenant.id)
        if hit is not None and time.monotonic() - hit[0] < self.refresh_s:
            return hit[1]
        return self._reload(tenant)

    def _reload(self, tenant: Tenant) -> Manifest:
        manifest = self.store.load(tenant)
        now = time.monotonic()
        with self._lock:
            old = self._cache.get(tenant.id)
            self._cache[tenant.id] = (now, manifest)
            retired = self._retired.setdefault(tenant.id, {})
            if old is not None:
                live = {e.path for e in manifest.files}
                for e in old[1].files:
                    if e.path not in live:
                        retired.setdefault(e.path, (now + self.retired_s, e))
            for path in [p for p, (until, _) in retired.items() if until < now]:
                del retired[path]
        return manifest

    def retired(self, tenant: Tenant, path: str) -> FileEntry | None:
        """A file of `tenant` that left the manifest lately: seen leaving by this process, or
        (after a restart) found in one of the older versions still in the bucket."""
        with self._lock:
            hit = self._retired.get(tenant.id, {}).get(path)
        if hit is not None:
            return hit[1] if hit[0] >= time.monotonic() else None
        current = self.load(tenant).version
        for version in range(current - 1, max(0, current - self.store.keep_versions) - 1, -1):
            older = self.store.load_version(tenant, version)
            entry = next((e for e in older.files if e.path == path), None) if older is not None else None
            if entry is not None:
                with self._lock:
                    self._retired.setdefault(tenant.id, {})[path] = (time.monotonic() + self.retired_s, entry)
                return entry
        return None

    def load_with(self, tenant: Tenant, paths: Sequence[str]) -> Manifest:
        manifest = self.load(tenant)
        known = {e.path for e in manifest.files}
        with self._lock:
            retired = self._retired.get(tenant.id, {})
            unknown = [p for p in paths if p not in known and p not in retired]
        if unknown:
            manifest = self._reload(tenant)
        return manifest


class StoreGateway:
    """Has what `LocalBackend` reads (`cfg`, `bucket`, `manifests`, `reader`, `layouts`)."""

    def __init__(self, cfg: Config, bucket: Bucket) -> None:
        self.cfg = cfg
        self.bucket = bucket
        self.manifests = RefreshingManifests(ManifestStore(bucket), cfg.store_gateway.manifest_refresh,
                                             retired_ms=cfg.compactor.deletion_delay)
        self.reader = SeriesReader(None, bucket, self.manifests)  # type: ignore[arg-type]  # no head here
        self.layouts = LayoutCache()
        self.chunk_cache = DiskCache(cfg.store_gateway_cache_dir, cfg.store_gateway.cache_max_bytes)
        self.ingester = None
        self._backend = LocalBackend(self, read_head=False, retired=self.manifests.retired)

    def backend(self) -> "StoreGatewayBackend":
        return StoreGatewayBackend(self)


class StoreGatewayBackend:
    """`LocalBackend` without a head, refreshing the manifest for files it does not know yet
    (`after_seq` is for ingesters: a gateway serves the files it is asked for)."""

    def __init__(self, gateway: StoreGateway) -> None:
        self.gateway = gateway
        self.local = gateway._backend

    def _fresh(self, tenant: Tenant, files: list[str] | None) -> None:
        if files:
            self.gateway.manifests.load_with(tenant, files)

    def select(self, tenant: Tenant, matchers: list[Matcher], start_ms: int, end_ms: int, files, after_seq=None):
        self._fresh(tenant, files)
        return self.local.select(tenant, matchers, start_ms, end_ms, files)

    def series(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files, after_seq=None):
        self._fresh(tenant, files)
        return self.local.series(tenant, matcher_sets, start_ms, end_ms, files)

    def label_names(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files, after_seq=None):
        self._fresh(tenant, files)
        return self.local.label_names(tenant, matcher_sets, start_ms, end_ms, files)

    def label_values(self, tenant: Tenant, name: str, matcher_sets, start_ms: int, end_ms: int, files,
                     after_seq=None):
        self._fresh(tenant, files)
        return self.local.label_values(tenant, name, matcher_sets, start_ms, end_ms, files)

    def metadata(self, tenant: Tenant) -> dict[str, list[dict]]:
        return {}


class CacheCollector:
    """The disk cache's figures on `/metrics`, read when scraped."""

    def __init__(self, cache: DiskCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator:
        st = self.cache.stats
        yield GaugeMetricFamily("mytsdb_store_gateway_cache_bytes", "Bytes in the row-group disk cache.", st.bytes)
        yield GaugeMetricFamily("mytsdb_store_gateway_cache_max_bytes", "Bound of the row-group disk cache.",
                                self.cache.max_bytes)
        yield GaugeMetricFamily("mytsdb_store_gateway_cache_entries", "Byte ranges in the row-group disk cache.",
                                st.entries)
        for name, value, help_ in (("hits", st.hits, "Byte ranges served from the disk cache."),
                                   ("misses", st.misses, "Byte ranges fetched from the bucket."),
                                   ("evictions", st.evictions, "Byte ranges evicted to stay within the bound.")):
            yield CounterMetricFamily(f"mytsdb_store_gateway_cache_{name}", help_, value)
