"""Per-tenant manifest: the exact list of live files, committed as numbered versions.

Version N+1 is written as a new immutable object with a create-only put; on a conflict
(another writer took N+1) the writer re-reads and retries. We never overwrite a version
and never rely on If-Match compare-and-swap, which lost updates under contention on
the S3 servers we test against (DESIGN §3). Each version is a full snapshot, so readers
need only the newest.

Old versions are deleted only when they are both `keep_versions` behind the newest and
older than `min_age_s`. The age matters: a writer that loaded version N and stalled
would otherwise succeed in creating N+1 after cleanup removed it, and its commit would
be silently lost. As in Delta Lake's log retention, a writer would have to stall longer
than `min_age_s` between reading and committing for that to happen.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import orjson

from tsdb.layout.paths import manifest_path, manifest_prefix
from tsdb.storage.bucket import Bucket, ObjectNotFound
from tsdb.tenancy import Tenant

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    path: str
    series_path: str
    day: str
    level: int
    min_time: int
    max_time: int
    rows: int
    series: int
    bytes: int
    seq: int  # write sequence: the manifest version that added the file
    schema_version: int
    source: str = ""  # the writer, e.g. the ingester ID
    resolution: int = 0  # ms between downsampled points; 0 for raw samples


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    files: tuple[FileEntry, ...] = ()  # raw samples: what every raw reader (queries, SQL) scans
    committed_at_ms: int = 0
    # Downsampled files (README "Downsampling"), apart so that no raw reader can pick one up.
    downsampled: tuple[FileEntry, ...] = ()

    def at_resolution(self, resolution: int) -> list[FileEntry]:
        return [f for f in self.downsampled if f.resolution == resolution]

    def overlapping(self, start_ms: int, end_ms: int) -> list[FileEntry]:
        return [f for f in self.files if f.max_time >= start_ms and f.min_time <= end_ms]

    def to_json(self) -> bytes:
        return orjson.dumps({"format": MANIFEST_FORMAT, "version": self.version,
                             "committed_at_ms": self.committed_at_ms,
                             "files": [asdict(f) for f in self.files],
                             "downsampled": [asdict(f) for f in self.downsampled]})

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        doc = orjson.loads(data)
        if doc.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unsupported manifest format {doc.get('format')!r}")
        return cls(doc["version"], tuple(FileEntry(**f) for f in doc["files"]), doc.get("committed_at_ms", 0),
                   tuple(FileEntry(**f) for f in doc.get("downsampled", ())))


class ConflictError(RuntimeError):
    """Too many concurrent writers took the next version first."""


@dataclass
class ManifestStore:
    """Reads and commits one bucket's manifests."""

    bucket: Bucket
    keep_versions: int = 10
    min_age_s: float = 600.0
    max_attempts: int = 50
    _sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def latest_version(self, tenant: Tenant) -> int:
        versions = [int(o.path.rsplit("/", 1)[1].split(".")[0]) for o in self.bucket.list(manifest_prefix(tenant))
                    if o.path.endswith(".json")]
        return max(versions, default=0)

    def load(self, tenant: Tenant) -> Manifest:
        """The newest manifest (version 0, empty, if the tenant has none)."""
        for _ in range(5):
            version = self.latest_version(tenant)
            if version == 0:
                return Manifest()
            try:
                return Manifest.from_json(self.bucket.get(manifest_path(tenant, version)))
            except ObjectNotFound:
                continue  # deleted by a concurrent cleanup between list and get: list again
        raise RuntimeError(f"manifest of tenant {tenant.id} keeps disappearing")

    def load_version(self, tenant: Tenant, version: int) -> Manifest | None:
        """Version `version`, or None once cleanup removed it."""
        try:
            return Manifest.from_json(self.bucket.get(manifest_path(tenant, version)))
        except ObjectNotFound:
            return None

    def commit(self, tenant: Tenant, change: Callable[[Manifest, int], Manifest]) -> Manifest:
        """Apply `change(current, next_version)` and commit it as the next version.

        `change` may run several times (once per attempt); it must be pure."""
        for attempt in range(self.max_attempts):
            current = self.load(tenant)
            nxt = change(current, current.version + 1)
            nxt = replace(nxt, version=current.version + 1, committed_at_ms=int(time.time() * 1000))
            if self.bucket.put_if_absent(manifest_path(tenant, nxt.version), nxt.to_json()):
                self._cleanup(tenant, nxt.version)
                return nxt
            log.info("manifest v%d of %s taken by another writer; retrying", nxt.version, tenant.id)
            self._sleep(min(0.5, 0.005 * 2 ** attempt) * random.random())
        raise ConflictError(f"could not commit the manifest of tenant {tenant.id} after {self.max_attempts} attempts")

    def _cleanup(self, tenant: Tenant, newest: int) -> None:
        old = newest - self.keep_versions
        if old < 1 or newest % self.keep_versions != 0:
            return
        cutoff = time.time() - self.min_age_s
        stale = [o.path for o in self.bucket.list(manifest_prefix(tenant))
                 if o.path.endswith(".json") and int(o.path.rsplit("/", 1)[1].split(".")[0]) <= old
                 and o.last_modified.timestamp() < cutoff]
        self.bucket.delete_many(stale)
