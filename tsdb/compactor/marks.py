"""Deletion marks: how a replaced file leaves the bucket without failing a query.

A file leaves the manifest first (one commit), then gets a mark; it is deleted only
`deletion_delay` after the mark, so a querier or store gateway still holding an older
manifest reads it without error. A file that is in no manifest and has no mark (a
compactor died between its upload and its commit, or between its commit and the marks)
is marked once it is older than `orphan_grace`, which covers an upload whose commit is
still under way; it is then deleted on the same schedule. Nothing in the current manifest
is ever deleted, whatever a mark says.
"""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from tsdb.layout.paths import data_prefixes, deletion_mark_path, deletion_marks_prefix, file_created_ns
from tsdb.manifest import Manifest
from tsdb.storage.bucket import Bucket
from tsdb.tenancy import Tenant

ORPHAN_GRACE_MS = 15 * 60 * 1000


@dataclass
class SweepResult:
    marked: int = 0
    deleted: int = 0


def mark(bucket: Bucket, tenant: Tenant, data_path: str, series_path: str, now_ms: int) -> None:
    body = orjson.dumps({"data": data_path, "series": series_path, "marked_at_ms": now_ms})
    bucket.put_if_absent(deletion_mark_path(tenant, data_path), body)


def sweep(bucket: Bucket, tenant: Tenant, manifest: Manifest, now_ms: int, deletion_delay_ms: int,
          orphan_grace_ms: int = ORPHAN_GRACE_MS) -> SweepResult:
    """Delete marked files whose delay is over; mark orphans. `manifest` must be current."""
    result = SweepResult()
    live = {e.path for e in manifest.files + manifest.downsampled}
    marks = {}
    for obj in bucket.list(deletion_marks_prefix(tenant)):
        doc = orjson.loads(bucket.get(obj.path))
        marks[doc["data"]] = (obj.path, doc)
    for data_path, (mark_path, doc) in marks.items():
        if data_path in live:  # never delete a live file; the mark is stale
            bucket.delete(mark_path)
            continue
        if doc["marked_at_ms"] + deletion_delay_ms <= now_ms:
            bucket.delete_many([doc["series"], data_path])
            bucket.delete(mark_path)
            result.deleted += 1
    for prefix, sprefix in data_prefixes(tenant):
        # Data files, and sidecars whose data file never made it (the sidecar is uploaded first).
        candidates = {o.path: o for o in bucket.list(prefix)}
        for o in bucket.list(sprefix):
            candidates.setdefault(prefix + o.path[len(sprefix):], o)
        for path, obj in candidates.items():
            if path in live or path in marks or not path.endswith(".parquet"):
                continue
            created = file_created_ns(path)
            created_ms = created // 1_000_000 if created is not None else int(obj.last_modified.timestamp() * 1000)
            if created_ms + orphan_grace_ms <= now_ms:
                mark(bucket, tenant, path, sprefix + path[len(prefix):], now_ms)
                result.marked += 1
    return result
