"""A compaction pass over the bucket: every tenant this compactor owns, every job its
manifest needs, one tenant-day at a time under a lease; then retention and deletions.

The library object behind `mytsdb compact --once`, the `compactor` service and `all` mode.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from tsdb.compactor.job import InputsChanged, JobResult, JobRunner
from tsdb.compactor.lease import Lease
from tsdb.compactor.marks import mark, sweep
from tsdb.compactor.metrics import CompactorMetrics
from tsdb.layout.downsampled import RES_1H, RES_5M
from tsdb.compactor.plan import MS_PER_DAY, Job, plan, plan_downsampling
from tsdb.config import Config
from tsdb.layout.paths import INTERNAL_PREFIX, day_start_ms
from tsdb.manifest import ManifestStore
from tsdb.storage.bucket import Bucket
from tsdb.tenancy import Tenant, TenantError

log = logging.getLogger(__name__)


@dataclass
class PassSummary:
    tenants: int = 0
    jobs: int = 0
    failed: int = 0
    files_in: int = 0
    files_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rows_read: int = 0
    rows_written: int = 0
    days_expired: int = 0
    files_marked: int = 0
    files_deleted: int = 0
    seconds: float = 0.0

    @property
    def duplicates_removed(self) -> int:
        return self.rows_read - self.rows_written

    def add(self, r: JobResult) -> None:
        self.jobs += 1
        self.files_in += len(r.job.inputs)
        self.files_out += len(r.outputs)
        self.bytes_in += r.job.bytes
        self.bytes_out += r.bytes_written
        self.rows_read += r.rows_read
        self.rows_written += r.rows_written

    def text(self) -> str:
        return (f"compacted {self.tenants} tenant(s), {self.jobs} job(s) ({self.failed} failed) in {self.seconds:.1f}s: "
                f"{self.files_in} files / {self.bytes_in:,} bytes in, {self.files_out} files / {self.bytes_out:,} bytes out; "
                f"{self.rows_read:,} rows read, {self.rows_written:,} written, {self.duplicates_removed:,} duplicates "
                f"removed; retention removed {self.days_expired} day(s); {self.files_marked} files marked for deletion, "
                f"{self.files_deleted} deleted")


class Progress:
    """Told how many rows a pass will read, then each batch's rows as they are read."""

    def start(self, total_rows: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def finish(self) -> None: ...


class Compactor:
    def __init__(self, cfg: Config, bucket: Bucket, metrics: CompactorMetrics | None = None,
                 instance_id: str = "", owns: Callable[[Tenant], bool] = lambda tenant: True,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.bucket = bucket
        self.manifests = ManifestStore(bucket)
        self.metrics = metrics or CompactorMetrics()
        self.instance_id = instance_id or f"compactor@{socket.gethostname()}"
        self.owns = owns
        self.clock = clock
        self.runner = JobRunner(bucket, self.manifests, cfg.compactor, cfg.compactor_dir,
                                cfg.ingester.max_promoted_labels, cfg.ingester.row_group_rows,
                                source=self.instance_id, clock=clock)

    def tenants(self) -> list[Tenant]:
        """Every tenant with data: the bucket's top-level prefixes that are valid tenant IDs."""
        found = []
        for name in self.bucket.list_dirs(""):
            if f"{name}/" == INTERNAL_PREFIX:
                continue
            try:
                found.append(Tenant.parse(name))
            except TenantError:
                continue
        return found

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def plan(self, tenant: Tenant) -> list[Job]:
        c = self.cfg.compactor
        manifest, now = self.manifests.load(tenant), self._now_ms()
        jobs = plan(manifest, now, c.block_range, c.day_close_delay)
        if c.downsampling_enabled:
            jobs += plan_downsampling(manifest, now, c.downsample_5m_after, c.downsample_1h_after, RES_5M, RES_1H)
        return jobs

    def run_once(self, tenants: Iterable[Tenant] | None = None, progress: Progress | None = None) -> PassSummary:
        t0 = time.monotonic()
        summary = PassSummary()
        owned = [t for t in (self.tenants() if tenants is None else tenants) if self.owns(t)]
        for tenant in owned:
            summary.days_expired += self._apply_retention(tenant)
        work = [(t, job) for t in owned for job in self.plan(t)]
        self.metrics.backlog.set(len(work))
        if progress is not None:
            progress.start(sum(job.rows for _, job in work))
        for i, (tenant, job) in enumerate(work):
            self._run_job(tenant, job, summary, progress)
            self.metrics.backlog.set(len(work) - i - 1)
        for tenant in owned:
            result = sweep(self.bucket, tenant, self.manifests.load(tenant), self._now_ms(),
                           self.cfg.compactor.deletion_delay)
            summary.files_marked += result.marked
            summary.files_deleted += result.deleted
        if progress is not None:
            progress.finish()
        summary.tenants = len(owned)
        summary.seconds = time.monotonic() - t0
        self.metrics.pass_seconds.observe(summary.seconds)
        self.metrics.passes.labels(outcome="failure" if summary.failed else "success").inc()
        return summary

    def _run_job(self, tenant: Tenant, job: Job, summary: PassSummary, progress: Progress | None) -> None:
        lease = Lease(self.bucket, tenant, job.day, self.instance_id, ttl_ms=max(self.cfg.compactor.compaction_interval,
                                                                                 600_000), clock=self.clock)
        if not lease.acquire():
            log.info("tenant %s %s: another compactor holds the day; skipped", tenant.id, job.day)
            return
        advance = progress.advance if progress is not None else (lambda rows: None)
        try:
            result = self.runner.run(tenant, job, advance, still_ours=lease.renew)
        except InputsChanged as e:
            log.info("tenant %s: %s; planned again next pass", tenant.id, e)
            return
        except Exception:
            summary.failed += 1
            self.metrics.jobs.labels(outcome="failure").inc()
            log.exception("tenant %s: compaction of %s failed", tenant.id, job.describe())
            return
        finally:
            lease.release()
        summary.add(result)
        self.metrics.jobs.labels(outcome="success").inc()
        self.metrics.rows_read.inc(result.rows_read)
        self.metrics.rows_written.inc(result.rows_written)
        log.info("tenant %s: %s: %d file(s), %d rows written (%d duplicates removed)", tenant.id, job.describe(),
                 len(result.outputs), result.rows_written, result.rows_read - result.rows_written)

    def _apply_retention(self, tenant: Tenant) -> int:
        """Drop whole days that ended more than their resolution's retention period ago: raw
        days by `compactor_blocks_retention_period`, downsampled ones by
        `retention_period_5m` / `_1h` (0 keeps all)."""
        limits = self.cfg.limits_for(tenant)
        now = self._now_ms()
        cutoffs = {res: now - keep for res, keep in ((0, limits.compactor_blocks_retention_period),
                                                     (RES_5M, limits.retention_period_5m),
                                                     (RES_1H, limits.retention_period_1h)) if keep > 0}
        if not cutoffs:
            return 0
        removed: list = []

        def expired(e) -> bool:
            cutoff = cutoffs.get(e.resolution)
            return cutoff is not None and day_start_ms(e.day) + MS_PER_DAY <= cutoff

        def drop(current, version):
            removed[:] = [e for e in current.files + current.downsampled if expired(e)]
            return replace(current, files=tuple(e for e in current.files if not expired(e)),
                           downsampled=tuple(e for e in current.downsampled if not expired(e)))

        loaded = self.manifests.load(tenant)
        if not any(expired(e) for e in loaded.files + loaded.downsampled):
            return 0
        self.manifests.commit(tenant, drop)
        now = self._now_ms()
        for e in removed:
            mark(self.bucket, tenant, e.path, e.series_path, now)
        days = {(e.day, e.resolution) for e in removed}
        log.info("tenant %s: retention removed %d day(s) (per resolution), %d file(s)", tenant.id, len(days),
                 len(removed))
        return len(days)

