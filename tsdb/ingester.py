"""The ingester: per-tenant WAL + Arrow head, out-of-order rules, flush to Parquet.

`Ingester` is a library object: `all` mode calls it in-process, and later the gRPC and
Flight servers wrap the same object. Each tenant has its own `TenantDB`, WAL directory
and head, so one tenant's data never touches another's structures.

Visibility: a flush freezes the head; the frozen block stays readable until its files
are committed to the manifest. Readers take the head snapshot *before* reading the
manifest, so a sample is always in one or the other (or both, which the duplicate
rule makes harmless).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from tsdb.admission import ACCEPT, IGNORE_DUPLICATE, NO_SAMPLE, OUT_OF_ORDER, admit
from tsdb.config import IngesterConfig, Limits
from tsdb.head import SAMPLES_SCHEMA, SERIES_SCHEMA, HeadBlock, SeriesState, from_ipc, to_ipc
from tsdb.layout.columns import SCHEMA_VERSION
from tsdb.layout.paths import data_file_path, day_of, new_file_name, series_file_path
from tsdb.layout.writer import MS_PER_DAY, WriterOptions, build_files
from tsdb.manifest import FileEntry, Manifest, ManifestStore
from tsdb.metrics import Metrics
from tsdb.storage.bucket import Bucket
from tsdb.tenancy import Tenant
from tsdb.wal import WAL

log = logging.getLogger(__name__)

REC_SERIES = 1
REC_SAMPLES = 2
IN_ORDER_WINDOW_MS = 3_600_000  # Prometheus: at most 1h behind the newest sample


@dataclass(frozen=True)
class SeriesBatch:
    """The valid part of one push, as columns: what the ingester appends."""

    series_id: np.ndarray      # uint64 per series
    labels: pa.MapArray        # per series
    sample_series: np.ndarray  # series index per sample
    timestamps: np.ndarray     # int64
    values: np.ndarray         # float64


@dataclass(frozen=True)
class Rejection:
    code: int
    series_index: int
    timestamp: int


@dataclass(frozen=True)
class AppendResult:
    accepted: int
    ignored: int
    rejected_by_code: dict[int, int]
    first_rejection: Rejection | None


@dataclass(frozen=True)
class HeadSnapshot:
    samples: pa.Table  # series_id, timestamp, value (may hold duplicates)
    series: pa.Table   # series_id, labels (may hold duplicates)


@dataclass
class MetricMetadata:
    type: str
    help: str
    unit: str


class TenantDB:
    """One tenant's WAL, series state and head."""

    def __init__(self, tenant: Tenant, wal_dir: Path, cfg: IngesterConfig, bucket: Bucket,
                 manifests: ManifestStore, metrics: Metrics, source: str) -> None:
        self.tenant = tenant
        self.cfg = cfg
        self.bucket = bucket
        self.manifests = manifests
        self.metrics = metrics
        self.source = source
        self.wal = WAL(wal_dir, fsync=cfg.wal_fsync, segment_size=cfg.wal_segment_size,
                       fsync_interval_s=cfg.wal_fsync_interval / 1000)
        self.state = SeriesState()
        self.head = HeadBlock()
        self.frozen: HeadBlock | None = None
        self._frozen_cut = 0
        self._frozen_state: SeriesState | None = None
        self.metadata: dict[str, MetricMetadata] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.next_retry = 0.0
        self.failures = 0

    # -- start-up ---------------------------------------------------------------------

    def replay(self) -> None:
        t0 = time.monotonic()
        checkpoint, records, stats = self.wal.replay()
        if checkpoint is not None:
            self.state = SeriesState.from_bytes(checkpoint)
        for rec in records:
            table = from_ipc(rec.payload)
            if rec.type == REC_SERIES:
                for batch in table.to_batches():
                    self.head.add_series(batch)
            elif rec.type == REC_SAMPLES:
                for batch in table.to_batches():
                    self.head.add_samples(batch)
                    self._absorb(batch)
        self.wal.open_for_append()
        self.metrics.wal_replay_seconds.observe(time.monotonic() - t0)
        self.metrics.wal_torn_tails.inc(stats.torn_tails)
        log.info("tenant %s: replayed %d WAL records from %d segments (%d torn tails) in %.2fs; head holds %d samples",
                 self.tenant.id, stats.records, stats.segments, stats.torn_tails, time.monotonic() - t0,
                 self.head.n_samples)

    def _absorb(self, batch: pa.RecordBatch) -> None:
        ids = batch.column(0).to_numpy()
        ts = batch.column(1).to_numpy()
        bits = batch.column(2).to_numpy().view(np.uint64)
        self.state.absorb(ids, ts, bits)

    # -- write path -------------------------------------------------------------------

    def append(self, batch: SeriesBatch, limits: Limits) -> AppendResult:
        n = len(batch.timestamps)
        if n == 0:
            return AppendResult(0, 0, {}, None)
        uniq_ids, first_series, group_of_series = np.unique(batch.series_id, return_index=True, return_inverse=True)
        group = group_of_series[batch.sample_series]
        bits = batch.values.view(np.uint64)
        window = limits.out_of_order_time_window
        seq = 0
        with self._lock:
            state_max, state_bits = self.state.lookup(uniq_ids)
            watermark = self.state.watermark
            horizon = window if window > 0 else IN_ORDER_WINDOW_MS
            min_valid = NO_SAMPLE if watermark == NO_SAMPLE else watermark - horizon
            codes = admit(group, batch.timestamps, bits, state_max[group], state_bits[group], min_valid, window > 0)
            self._forgive_resends(codes, uniq_ids[group], batch.timestamps, bits)
            acc = codes == ACCEPT
            n_acc = int(acc.sum())
            if n_acc:
                ids = uniq_ids[group[acc]]
                samples = pa.RecordBatch.from_arrays(
                    [pa.array(ids), pa.array(batch.timestamps[acc]), pa.array(batch.values[acc])], schema=SAMPLES_SCHEMA)
                touched = np.unique(group[acc])
                new = touched[self.head.unknown(uniq_ids[touched])]
                if len(new):
                    series = pa.RecordBatch.from_arrays(
                        [pa.array(uniq_ids[new]), batch.labels.take(pa.array(first_series[new]))], schema=SERIES_SCHEMA)
                    self.wal.append(REC_SERIES, to_ipc(series))
                    self.head.add_series(series)
                seq = self.wal.append(REC_SAMPLES, to_ipc(samples))
                self.head.add_samples(samples)
                self.state.absorb(ids, batch.timestamps[acc], bits[acc])
        if seq:
            t0 = time.perf_counter()
            self.wal.sync(seq)
            self.metrics.wal_fsync_seconds.observe(time.perf_counter() - t0)
        return _summarise(codes, batch, group, first_series)

    def _forgive_resends(self, codes: np.ndarray, ids: np.ndarray, ts: np.ndarray, bits: np.ndarray) -> None:
        """Turn out-of-order rejections into silent no-ops where the head already holds
        exactly that sample: a client retrying a whole batch is not an error.

        Only batches whose time range covers the candidates are scanned, so the cost is
        that of the recent head, and only on this rare path."""
        cand = np.flatnonzero(codes == OUT_OF_ORDER)
        if len(cand) == 0:
            return
        lo, hi = int(ts[cand].min()), int(ts[cand].max())
        blocks = [b for b in (self.frozen, self.head) if b is not None]
        stored = [batch for b in blocks for batch, (bmin, bmax) in zip(b.batches, b.ranges) if bmax >= lo and bmin <= hi]
        if not stored:
            return
        table = pa.Table.from_batches(stored, SAMPLES_SCHEMA)
        have = _triples(table.column(0).to_numpy(), table.column(1).to_numpy(),
                        table.column(2).to_numpy().view(np.uint64))
        resent = np.isin(_triples(ids[cand], ts[cand], bits[cand]), have)
        codes[cand[resent]] = IGNORE_DUPLICATE

    # -- flush ------------------------------------------------------------------------

    def should_flush(self, now: float) -> bool:
        if self.frozen is not None:
            return now >= self.next_retry
        if self.head.is_empty():
            return False
        return (self.head.n_samples >= self.cfg.max_head_samples
                or self.head.age_seconds() * 1000 >= self.cfg.flush_interval)

    def flush(self, opts: WriterOptions, limits: Limits) -> list[FileEntry]:
        """Write the head to Parquet, commit it to the manifest, then truncate the WAL.

        A failure keeps the frozen block (readable, in the WAL) for a retry."""
        with self._flush_lock:
            with self._lock:
                if self.frozen is None:
                    if self.head.is_empty():
                        return []
                    self.frozen, self.head = self.head, HeadBlock()
                    self._frozen_cut = self.wal.cut()
                    horizon = max(limits.out_of_order_time_window, IN_ORDER_WINDOW_MS)
                    if self.state.watermark != NO_SAMPLE:
                        self.state.forget_older_than(self.state.watermark - horizon)
                    self._frozen_state = self.state.copy()
            frozen = self.frozen
            t0 = time.perf_counter()
            try:
                entries = self._write_and_commit(frozen, opts)
            except Exception:
                self.failures += 1
                delay = min(self.cfg.flush_retry_max_backoff, self.cfg.flush_retry_min_backoff * 2 ** (self.failures - 1))
                self.next_retry = time.monotonic() + delay / 1000
                self.metrics.flushes.labels(outcome="failure").inc()
                log.exception("tenant %s: flush failed (attempt %d); retrying in %.1fs", self.tenant.id,
                              self.failures, delay / 1000)
                raise
            with self._lock:
                self.frozen = None
            self.wal.truncate(self._frozen_cut, self._frozen_state.to_bytes())
            self.failures = 0
            elapsed = time.perf_counter() - t0
            self.metrics.flushes.labels(outcome="success").inc()
            self.metrics.flush_seconds.observe(elapsed)
            self.metrics.flushed_samples.inc(sum(e.rows for e in entries))
            self.metrics.flushed_bytes.inc(sum(e.bytes for e in entries))
            log.info("tenant %s: flushed %d samples into %d file(s) in %.2fs", self.tenant.id,
                     frozen.n_samples, len(entries), elapsed)
            return entries

    def _write_and_commit(self, block: HeadBlock, opts: WriterOptions) -> list[FileEntry]:
        built = build_files(block.samples(), block.series(), opts)
        staged = []
        for f in built:
            day = day_of(f.day_index * MS_PER_DAY)
            name = new_file_name(level=0)
            data_path = data_file_path(self.tenant, day, name)
            side_path = series_file_path(self.tenant, day, name)
            self.bucket.put(side_path, f.sidecar)
            self.bucket.put(data_path, f.data)
            staged.append(FileEntry(data_path, side_path, day, 0, f.min_time, f.max_time, f.rows, f.series,
                                    len(f.data), 0, SCHEMA_VERSION, self.source))

        def add(current: Manifest, version: int) -> Manifest:
            return replace(current, files=current.files + tuple(replace(e, seq=version) for e in staged))

        committed = self.manifests.commit(self.tenant, add)
        return [replace(e, seq=committed.version) for e in staged]

    # -- read path --------------------------------------------------------------------

    def snapshot(self) -> HeadSnapshot:
        with self._lock:
            blocks = [b for b in (self.frozen, self.head) if b is not None]
            sample_batches = [batch for b in blocks for batch in b.batches]
            series_batches = [batch for b in blocks for batch in b.series_batches]
        return HeadSnapshot(pa.Table.from_batches(sample_batches, SAMPLES_SCHEMA),
                            pa.Table.from_batches(series_batches, SERIES_SCHEMA))

    def close(self) -> None:
        self.wal.close()


def _triples(ids: np.ndarray, ts: np.ndarray, bits: np.ndarray) -> np.ndarray:
    out = np.empty(len(ids), dtype=[("s", "<u8"), ("t", "<i8"), ("b", "<u8")])
    out["s"], out["t"], out["b"] = ids, ts, bits
    return out


def _summarise(codes: np.ndarray, batch: SeriesBatch, group: np.ndarray, first_series: np.ndarray) -> AppendResult:
    counts = np.bincount(codes, minlength=5)
    rejected = {c: int(counts[c]) for c in range(2, 5) if counts[c]}
    first = None
    bad = np.flatnonzero(codes >= 2)
    if len(bad):
        i = int(bad[0])
        first = Rejection(int(codes[i]), int(batch.sample_series[i]), int(batch.timestamps[i]))
    return AppendResult(int(counts[ACCEPT]), int(counts[1]), rejected, first)


@dataclass
class Ingester:
    """All tenants' heads on one instance, with the background flush loop."""

    cfg: IngesterConfig
    wal_root: Path
    bucket: Bucket
    metrics: Metrics
    limits_for: Callable[[Tenant], Limits]
    instance_id: str = "ingester-1"
    manifests: ManifestStore = field(init=False)
    _tenants: dict[str, TenantDB] = field(default_factory=dict, init=False)
    _tenants_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    ready: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.wal_root = Path(self.wal_root)
        self.manifests = ManifestStore(self.bucket)
        self.options = WriterOptions(self.cfg.row_group_rows, self.cfg.zstd_level, self.cfg.max_promoted_labels)

    def start(self) -> None:
        """Replay every tenant's WAL, then start the flush loop."""
        self.wal_root.mkdir(parents=True, exist_ok=True)
        for d in sorted(self.wal_root.iterdir()):
            if d.is_dir():
                try:
                    tenant = Tenant.parse(d.name)
                except ValueError:
                    log.warning("ignoring %s: not a tenant WAL directory", d)
                    continue
                self._tenant_db(tenant)
        self._thread = threading.Thread(target=self._flush_loop, name="flush-loop", daemon=True)
        self._thread.start()
        self.ready = True

    def stop(self, flush: bool = True) -> None:
        """Stop the loop; flush every head (clean shutdown), then close the WALs."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if flush:
            self.flush_all()
        for db in self.tenants():
            db.close()
        self.ready = False

    def tenants(self) -> list[TenantDB]:
        with self._tenants_lock:
            return list(self._tenants.values())

    def _tenant_db(self, tenant: Tenant) -> TenantDB:
        with self._tenants_lock:
            db = self._tenants.get(tenant.id)
            if db is None:
                db = TenantDB(tenant, self.wal_root / tenant.id, self.cfg, self.bucket, self.manifests,
                              self.metrics, self.instance_id)
                db.replay()
                self._tenants[tenant.id] = db
            return db

    def existing(self, tenant: Tenant) -> TenantDB | None:
        with self._tenants_lock:
            return self._tenants.get(tenant.id)

    def append(self, tenant: Tenant, batch: SeriesBatch) -> AppendResult:
        db = self._tenant_db(tenant)
        result = db.append(batch, self.limits_for(tenant))
        if db.head.n_samples >= self.cfg.max_head_samples:
            self._wake.set()
        return result

    def record_metadata(self, tenant: Tenant, entries: list) -> None:
        if entries:
            db = self._tenant_db(tenant)
            for m in entries:
                db.metadata[m.metric_family_name] = MetricMetadata(m.type, m.help, m.unit)

    def snapshot(self, tenant: Tenant) -> HeadSnapshot | None:
        db = self.existing(tenant)
        return db.snapshot() if db is not None else None

    def flush(self, tenant: Tenant) -> list[FileEntry]:
        db = self.existing(tenant)
        return db.flush(self.options, self.limits_for(tenant)) if db is not None else []

    def flush_all(self) -> int:
        """Flush every tenant; returns the number of tenants that failed."""
        failed = 0
        for db in self.tenants():
            try:
                db.flush(self.options, self.limits_for(db.tenant))
            except Exception:
                failed += 1
        return failed

    def _flush_loop(self) -> None:
        period = self.cfg.flush_check_period / 1000
        while not self._stop.is_set():
            self._wake.wait(period)
            self._wake.clear()
            if self._stop.is_set():
                return
            now = time.monotonic()
            for db in self.tenants():
                if db.should_flush(now):
                    try:
                        db.flush(self.options, self.limits_for(db.tenant))
                    except Exception:
                        pass  # logged, counted and scheduled for retry by TenantDB.flush
            self.update_gauges()

    def update_gauges(self) -> None:
        samples = series = 0
        for db in self.tenants():
            samples += db.head.n_samples + (db.frozen.n_samples if db.frozen else 0)
            series += len(db.state)
        self.metrics.head_samples.set(samples)
        self.metrics.head_series.set(series)
