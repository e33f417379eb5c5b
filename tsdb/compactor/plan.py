"""What a compaction pass does for one tenant: jobs over its manifest, decided by time alone.

Levels, per tenant and UTC day (README "Compaction"):
- L0: ingester flushes. They overlap, and with RF=3 each sample is in three of them.
- L1: one deduplicated file per `block_range` block of the day; L1 files never overlap.
- L2: one file per tenant-day (split above `max_file_size`), once the day is closed.

An L1 job takes every L0 file of a day still open, plus the L1 files of the blocks those L0
files touch, and writes one file per touched block. An L2 job takes every file of a closed
day (`day_close_delay` after its end) unless the day is already exactly one L2 generation.
Jobs of different days are independent; one job never mixes tenants.

Downsampling jobs (`plan_downsampling`) write a closed day's 5m copy from its raw files once
the day is one L2 generation and ended `downsample_5m_after` ago, and its 1h copy from the
5m one after `downsample_1h_after`. A copy is redone when its source gained newer data
(a higher write sequence: late samples merged into the day).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tsdb.layout.paths import day_start_ms
from tsdb.manifest import FileEntry, Manifest

MS_PER_DAY = 86_400_000
L0, L1, L2 = 0, 1, 2


@dataclass(frozen=True)
class Job:
    day: str
    level: int                      # the output level
    inputs: tuple[FileEntry, ...]
    resolution: int = 0             # the output's downsampling resolution (ms); 0: raw compaction

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.inputs)

    @property
    def bytes(self) -> int:
        return sum(e.bytes for e in self.inputs)

    def describe(self) -> str:
        levels = sorted({e.level for e in self.inputs})
        target = f"{self.resolution // 60_000}m" if self.resolution else f"L{self.level}"
        target = target.replace("60m", "1h")
        return (f"{self.day} → {target}: {len(self.inputs)} files (L{',L'.join(map(str, levels))}), "
                f"{self.rows:,} rows")


def plan(manifest: Manifest, now_ms: int, block_range: int, day_close_delay: int) -> list[Job]:
    by_day: dict[str, list[FileEntry]] = {}
    for e in manifest.files:
        by_day.setdefault(e.day, []).append(e)
    jobs = []
    for day in sorted(by_day):
        files = by_day[day]
        if day_start_ms(day) + MS_PER_DAY + day_close_delay <= now_ms:
            if _needs_l2(files):
                jobs.append(Job(day, L2, tuple(files)))
        else:
            job = _l1_job(day, files, block_range)
            if job is not None:
                jobs.append(job)
    return jobs


def _needs_l2(files: Sequence[FileEntry]) -> bool:
    """A closed day needs work unless it is already one L2 generation (the split parts of
    one L2 job share their write sequence)."""
    return not (all(e.level == L2 for e in files) and len({e.seq for e in files}) == 1)


def _l1_job(day: str, files: Sequence[FileEntry], block_range: int) -> Job | None:
    l0 = [e for e in files if e.level == L0]
    if not l0:
        return None
    touched = set()
    for e in l0:
        touched.update(range(e.min_time // block_range, e.max_time // block_range + 1))
    l1 = [e for e in files if e.level == L1 and e.min_time // block_range in touched]
    return Job(day, L1, tuple(l0 + l1))


def plan_downsampling(manifest: Manifest, now_ms: int, after_5m: int, after_1h: int,
                      res_5m: int = 300_000, res_1h: int = 3_600_000) -> list[Job]:
    raw = _by_day(manifest.files)
    five = _by_day(manifest.at_resolution(res_5m))
    hour = _by_day(manifest.at_resolution(res_1h))
    jobs = []
    for day in sorted(set(raw) | set(five)):
        ended = day_start_ms(day) + MS_PER_DAY
        src, fives = raw.get(day, []), five.get(day, [])
        if src and ended + after_5m <= now_ms and not _needs_l2(src) and _seq(fives) < _seq(src):
            jobs.append(Job(day, L2, tuple(src), res_5m))
        elif fives and ended + after_1h <= now_ms and _seq(src) <= _seq(fives) and _seq(hour.get(day, [])) < _seq(fives):
            jobs.append(Job(day, L2, tuple(fives), res_1h))
    return jobs


def _by_day(files: Sequence[FileEntry]) -> dict[str, list[FileEntry]]:
    out: dict[str, list[FileEntry]] = {}
    for e in files:
        out.setdefault(e.day, []).append(e)
    return out


def _seq(files: Sequence[FileEntry]) -> int:
    return max((e.seq for e in files), default=-1)
