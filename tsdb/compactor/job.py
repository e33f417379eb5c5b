"""Run one compaction job: merge its inputs, write the outputs, swap them into the manifest.

Order of effects, so that a `kill -9` anywhere leaves the bucket readable and the next
pass finishes the job:
1. outputs written to local scratch space (nothing in the bucket yet);
2. uploaded, sidecar first (uncommitted uploads are orphans, invisible to readers);
3. one manifest commit removes the inputs and adds the outputs: readers see either the
   inputs or the outputs, never both, so nothing is ever double counted;
4. the inputs get deletion marks and are deleted `deletion_delay` later.
If the inputs changed meanwhile (another compactor, retention), the commit is refused,
the uploads are marked at once, and the next pass plans again.

The outputs carry the highest write sequence of their inputs, not the commit's version:
a file flushed while the job ran has a higher sequence than every input, so under the
duplicate rule its samples still win over the older copies in the output.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tsdb.compactor import downsample
from tsdb.compactor.downsample import DownsampledOutput
from tsdb.layout.downsampled import FIRST_VALUE, LAST_VALUE
from tsdb.compactor.marks import mark
from tsdb.compactor.merge import JobSeries, merge
from tsdb.compactor.output import OutputFile, WrittenFile
from tsdb.compactor.plan import L1, Job
from tsdb.config import CompactorConfig
from tsdb.layout.columns import SCHEMA_VERSION
from tsdb.layout.paths import data_file_path, downsampled_file_paths, series_file_path
from tsdb.layout.writer import WriterOptions
from tsdb.manifest import FileEntry, Manifest, ManifestStore
from tsdb.query.layout import LayoutCache
from tsdb.query.reader import ParquetReader
from tsdb.storage.bucket import Bucket
from tsdb.tenancy import Tenant


class InputsChanged(RuntimeError):
    """The manifest no longer holds every input of the job: it was planned on a stale view."""


@dataclass(frozen=True)
class JobResult:
    job: Job
    outputs: tuple[FileEntry, ...]
    rows_read: int       # rows merged, duplicates included
    rows_written: int

    @property
    def bytes_written(self) -> int:
        return sum(e.bytes for e in self.outputs)


@dataclass
class JobRunner:
    bucket: Bucket
    manifests: ManifestStore
    cfg: CompactorConfig
    scratch: Path
    max_promoted_labels: int = 64
    l1_row_group_rows: int = 128 * 1024  # `ingester.row_group_rows`
    source: str = "compactor"
    clock: Callable[[], float] = time.time
    # Crash-safety tests: called with each step's name as it completes: "batch" (each merged
    # batch), "written", "upload" (each file), "uploaded", "committed", "marked" (each input).
    after_step: Callable[[str], None] = lambda step: None

    def run(self, tenant: Tenant, job: Job, progress: Callable[[int], None] = lambda rows: None,
            still_ours: Callable[[], bool] = lambda: True) -> JobResult:
        """`still_ours()` is asked right before the commit (the tenant-day's lease)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        written, rows_read = (self._downsample if job.resolution else self._write)(job, progress)
        try:
            self.after_step("written")
            entries = self._upload(tenant, job, written)
        finally:
            for w in written:
                w.local_path.unlink(missing_ok=True)
        self.after_step("uploaded")
        replaced: list[FileEntry] = []
        try:
            if not still_ours():
                raise InputsChanged(f"lost the lease of {tenant.id} {job.day} while compacting")
            self.manifests.commit(tenant, lambda current, version: self._swap(current, job, entries, replaced))
        except InputsChanged:
            now = int(self.clock() * 1000)
            for e in entries:
                mark(self.bucket, tenant, e.path, e.series_path, now)
            raise
        self.after_step("committed")
        now = int(self.clock() * 1000)
        for e in replaced:
            mark(self.bucket, tenant, e.path, e.series_path, now)
            self.after_step("marked")
        return JobResult(job, tuple(entries), rows_read, sum(e.rows for e in entries))

    def _options(self, level: int) -> WriterOptions:
        """L2 files get `compactor.row_group_rows` (1 Mi); L1 files, read by the queries of
        the last hours, keep the flushes' row groups, which selective queries skip better."""
        rows = self.cfg.row_group_rows if level != L1 else self.l1_row_group_rows
        return WriterOptions(rows, self.cfg.zstd_level, self.max_promoted_labels)

    def _write(self, job: Job, progress: Callable[[int], None]) -> tuple[list[WrittenFile], int]:
        series = JobSeries(self.bucket, job.inputs, self.max_promoted_labels)
        reader = ParquetReader(self.bucket, LayoutCache())
        opts = self._options(job.level)
        expected = int(series.samples_upper.sum())
        outputs: dict[int, OutputFile] = {}
        done: list[WrittenFile] = []
        rows_read = 0

        def new_output() -> OutputFile:
            return OutputFile(self.scratch, job.level, series.columns, expected, opts)

        try:
            for batch in merge(series, reader, self.cfg.merge_batch_samples):
                rows_read += batch.rows_in
                if job.level == L1:
                    block = batch.timestamps // self.cfg.block_range
                    for b in np.unique(block):
                        m = block == b
                        out = outputs.setdefault(int(b), new_output())
                        out.append(batch.series[m], batch.timestamps[m], batch.values.filter(m))
                else:
                    out = outputs.setdefault(0, new_output())
                    out.append(batch.series, batch.timestamps, batch.values)
                    if out.bytes_written >= self.cfg.max_file_size:
                        _close_into(out, done)
                        del outputs[0]
                progress(batch.rows_in)
                self.after_step("batch")
            for out in outputs.values():
                _close_into(out, done)
        except BaseException:
            for out in outputs.values():
                out.abort()
            for w in done:
                w.local_path.unlink(missing_ok=True)
            raise
        return done, rows_read

    def _downsample(self, job: Job, progress: Callable[[int], None]) -> tuple[list[WrittenFile], int]:
        """The day's windows at `job.resolution`: from raw files through the deduplicating
        merge, or from the day's finer downsampled file."""
        opts = WriterOptions(self.cfg.row_group_rows, self.cfg.zstd_level, 0)
        rows_read = 0
        if job.inputs[0].resolution == 0:
            series = JobSeries(self.bucket, job.inputs, 0)
            out = DownsampledOutput(self.scratch, series.columns, opts)

            def pieces():
                for batch in merge(series, ParquetReader(self.bucket, LayoutCache()), self.cfg.merge_batch_samples):
                    yield batch.rows_in, downsample.from_raw(batch.series, batch.timestamps,
                                                             batch.values.to_numpy(zero_copy_only=False),
                                                             job.resolution)
        else:
            (source,) = job.inputs
            sidecar = pq.read_table(pa.BufferReader(self.bucket.get(source.series_path)))
            out = DownsampledOutput(self.scratch, downsample.columns_of(sidecar), opts)
            firsts = sidecar.column(FIRST_VALUE).to_numpy()
            lasts = sidecar.column(LAST_VALUE).to_numpy()

            def pieces():
                for series, ts, aggs in downsample.read_windows(self.bucket.get(source.path), sidecar,
                                                                self.cfg.merge_batch_samples):
                    present = series[np.r_[True, series[1:] != series[:-1]]] if len(series) else series
                    yield len(ts), downsample.from_windows(series, ts, aggs, job.resolution, firsts[present],
                                                           lasts[present])
        try:
            for n, windows in pieces():
                rows_read += n
                out.append(windows)
                progress(n)
                self.after_step("batch")
            written = out.close()
        except BaseException:
            out.abort()
            raise
        return ([written] if written is not None else []), rows_read

    def _upload(self, tenant: Tenant, job: Job, written: list[WrittenFile]) -> list[FileEntry]:
        seq = max(e.seq for e in job.inputs)
        entries = []
        for w in written:
            if job.resolution:
                data_path, series_path = downsampled_file_paths(tenant, job.resolution, job.day, w.name)
            else:
                data_path, series_path = data_file_path(tenant, job.day, w.name), series_file_path(tenant, job.day, w.name)
            self.bucket.put(series_path, w.sidecar)
            self.bucket.put_file(data_path, w.local_path)
            self.after_step("upload")
            entries.append(FileEntry(data_path, series_path, job.day, job.level, w.min_time, w.max_time, w.rows,
                                     w.series, w.bytes, seq, SCHEMA_VERSION, self.source, job.resolution))
        return entries

    @staticmethod
    def _swap(current: Manifest, job: Job, outputs: list[FileEntry], replaced: list[FileEntry]) -> Manifest:
        """Inputs out, outputs in; a downsampling job replaces the day's older copy at its
        resolution and keeps its inputs. `replaced` gets the files that left the manifest."""
        inputs = {e.path for e in job.inputs}
        present = {e.path for e in current.files + current.downsampled}
        if not inputs <= present:
            raise InputsChanged(f"{len(inputs - present)} input file(s) of {job.describe()} left the manifest")
        if job.resolution:
            old = [e for e in current.downsampled if e.day == job.day and e.resolution == job.resolution]
            replaced[:] = old
            kept = tuple(e for e in current.downsampled if e not in old)
            return replace(current, downsampled=kept + tuple(outputs))
        replaced[:] = [e for e in current.files if e.path in inputs]
        kept = tuple(e for e in current.files if e.path not in inputs)
        return replace(current, files=kept + tuple(outputs))


def _close_into(out: OutputFile, done: list[WrittenFile]) -> None:
    w = out.close()
    if w is not None:
        done.append(w)
