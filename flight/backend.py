"""What a Flight query server answers from: `QueryBackend`, and `LocalBackend` over a
process's own storage (an ingester's head and recent flushes, a store gateway's files).

A request that names `files` reads only those, and each must be in the caller's
manifest: a path of another tenant, or any path the manifest does not list, is refused
before anything is read.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import pyarrow as pa

from promql.engine.source import SeriesSet
from promql.matchers import Matcher
from tsdb.manifest import FileEntry, Manifest
from tsdb.query.source import StorageSource
from tsdb.tenancy import Tenant


class BadRequest(ValueError):
    """The request names something the caller may not read."""


class QueryBackend(Protocol):
    def select(self, tenant: Tenant, matchers: list[Matcher], start_ms: int, end_ms: int,
               files: list[str] | None, after_seq: int | None = None) -> SeriesSet: ...

    def series(self, tenant: Tenant, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int,
               files: list[str] | None, after_seq: int | None = None) -> pa.Table: ...

    def label_names(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files,
                    after_seq: int | None = None) -> list[str]: ...

    def label_values(self, tenant: Tenant, name: str, matcher_sets, start_ms: int, end_ms: int, files,
                     after_seq: int | None = None) -> list[str]: ...

    def metadata(self, tenant: Tenant) -> dict[str, list[dict]]: ...


FileScope = Callable[[Tenant, Manifest, "int | None"], Sequence[FileEntry]]  # (tenant, manifest, after_seq)


class LocalBackend:
    """`services`: `cfg`, `bucket`, `manifests`, `reader` (a SeriesReader), `layouts`,
    `chunk_cache` (a `DiskCache` or None), and `ingester` when `read_head`. `file_scope` is the files this process serves
    by default (all of the manifest when None)."""

    def __init__(self, services: Any, read_head: bool = True, file_scope: FileScope | None = None,
                 retired: Callable[[Tenant, str], FileEntry | None] | None = None) -> None:
        self.services = services
        self.read_head = read_head
        self.file_scope = file_scope
        self.retired = retired  # files the manifest dropped lately (compacted), still readable

    def _files(self, tenant: Tenant, requested: list[str] | None,
               after_seq: int | None = None) -> Callable[[Manifest], Sequence[FileEntry]]:
        def narrow(manifest: Manifest) -> Sequence[FileEntry]:
            if requested is None:
                if self.file_scope is None:
                    return manifest.files
                return self.file_scope(tenant, manifest, after_seq)
            by_path = {e.path: e for e in manifest.files}
            found = []
            for p in requested:
                entry = by_path.get(p) or (self.retired(tenant, p) if self.retired is not None else None)
                if entry is None:
                    raise BadRequest(f"file {p} is not in tenant {tenant.id}'s manifest")
                found.append(entry)
            return found
        return narrow

    def select(self, tenant: Tenant, matchers: list[Matcher], start_ms: int, end_ms: int,
               files: list[str] | None, after_seq: int | None = None) -> SeriesSet:
        limit = self.services.cfg.limits_for(tenant).max_fetched_series_per_query
        source = StorageSource(self.services, tenant, limit, layouts=self.services.layouts, read_head=self.read_head,
                               files=self._files(tenant, files, after_seq), chunks=self.services.chunk_cache)
        return source.select(matchers, start_ms, end_ms)

    def series(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files,
               after_seq: int | None = None) -> pa.Table:
        return self.services.reader.select(tenant, matcher_sets, start_ms, end_ms,
                                           files=self._files(tenant, files, after_seq), read_head=self.read_head)

    def label_names(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files,
                    after_seq: int | None = None) -> list[str]:
        return self.services.reader.label_names(tenant, matcher_sets, start_ms, end_ms,
                                                files=self._files(tenant, files, after_seq), read_head=self.read_head)

    def label_values(self, tenant: Tenant, name: str, matcher_sets, start_ms: int, end_ms: int, files,
                     after_seq: int | None = None) -> list[str]:
        return self.services.reader.label_values(tenant, name, matcher_sets, start_ms, end_ms,
                                                 files=self._files(tenant, files, after_seq), read_head=self.read_head)

    def metadata(self, tenant: Tenant) -> dict[str, list[dict]]:
        if not self.read_head:
            return {}
        db = self.services.ingester.existing(tenant)
        entries = dict(db.metadata) if db is not None else {}
        return {name: [{"type": m.type, "help": m.help, "unit": m.unit}] for name, m in sorted(entries.items())}
