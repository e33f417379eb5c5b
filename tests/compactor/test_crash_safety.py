"""Compaction is safe: `mytsdb compact --once` killed with SIGKILL at each step leaves the
bucket readable with the same answers, the next pass finishes the job with nothing lost
or duplicated, and the leftovers are swept; queries running during compaction never fail
and never double count."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.compactor.conftest import TENANT, compactor_config, unique_samples
from tests.differential import data
from tests.differential.compare import compare_runs
from tsdb.compactor import L0, L2, Compactor
from tsdb.compactor.lease import Lease
from tsdb.compactor.marks import ORPHAN_GRACE_MS
from tsdb.layout.downsampled import RES_5M
from tsdb.manifest import ManifestStore
from tsdb.storage.bucket import open_bucket

pytestmark = pytest.mark.slow
HOUR = 3_600_000
SAMPLE = 8  # every 8th differential query per check (the full set runs in test_compaction.py)


def compact_cli(bucket_dir: Path, work: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    cfg = {"storage": {"backend": "filesystem", "filesystem": {"directory": str(bucket_dir)}},
           "compactor": {"row_group_rows": 20_000, "merge_batch_samples": 50_000}}
    work.mkdir(parents=True, exist_ok=True)
    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = {"MYTSDB_COMPACTOR_CRASH_AT": crash_at} if crash_at else {}
    exe = Path(sys.executable).with_name("mytsdb")
    return subprocess.run([str(exe), "compact", "--once", "--config", str(work / "c.yaml"), "--data-dir", str(work)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def data_objects(bucket_dir: Path) -> set[str]:
    return {str(p.relative_to(bucket_dir)) for p in (bucket_dir / TENANT.id / "data").rglob("*.parquet")}


@pytest.mark.parametrize("crash_at", ["batch", "written", "upload", "uploaded", "committed", "marked"])
def test_kill_9_at_each_step_then_the_next_pass_finishes(replicated, tmp_path, crash_at):
    replicated.restore()
    bucket_dir = replicated.bucket_dir
    bucket = open_bucket(compactor_config(bucket_dir, tmp_path).storage)
    before = ManifestStore(bucket).load(TENANT)

    crashed = compact_cli(bucket_dir, tmp_path / "first", crash_at)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    replicated.assert_same_answers(every=SAMPLE)  # readable and counted once, whatever the step

    finished = compact_cli(bucket_dir, tmp_path / "second")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "duplicates removed" in finished.stdout
    manifest = ManifestStore(bucket).load(TENANT)
    assert {e.level for e in manifest.files} == {L2} and len({e.day for e in manifest.files}) == len(manifest.files)
    assert sum(e.rows for e in manifest.files) == replicated.unique == unique_samples(
        bucket_dir, [e.path for e in manifest.files])
    replicated.assert_same_answers(every=SAMPLE)

    # Leftovers (uploads never committed, inputs never marked) are marked once they are older
    # than the orphan grace, then deleted with everything else: only the live files remain.
    live = {e.path for e in manifest.files}
    assert live < data_objects(bucket_dir)
    later = compactor_config(bucket_dir, tmp_path / "sweep")
    now_s = time.time()
    Compactor(later, bucket, clock=lambda: now_s + ORPHAN_GRACE_MS / 1000 + 1).run_once([TENANT])
    Compactor(later, bucket, clock=lambda: now_s + ORPHAN_GRACE_MS / 1000 + 120).run_once([TENANT])
    assert data_objects(bucket_dir) == live
    assert all(bucket.exists(e.series_path) for e in manifest.files)
    assert not (set(before.files) & set(manifest.files))
    replicated.assert_same_answers(every=SAMPLE)


def test_queries_during_compaction_never_fail_or_double_count(replicated, tmp_path):
    replicated.restore()
    bucket_dir = replicated.bucket_dir
    cfg = compactor_config(bucket_dir, tmp_path, deletion_delay="100d")  # fake clocks jump by days below
    bucket = open_bucket(cfg.storage)
    stop = threading.Event()
    rounds: list[int] = []
    failures: list[str] = []

    def query_loop():
        while not stop.is_set():
            report = compare_runs(replicated.queries[::SAMPLE], replicated.evals, replicated.reference,
                                  replicated.answers(workers=2, every=SAMPLE))
            if report.differences:
                failures.append(report.format(5))
            rounds.append(1)

    threads = [threading.Thread(target=query_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for clock_ms in (data.T0 + 5 * HOUR, data.T0 + 50 * HOUR):  # L0 → L1, then → L2
            summary = Compactor(cfg, bucket, clock=lambda c=clock_ms: c / 1000).run_once([TENANT])
            assert summary.failed == 0 and summary.jobs >= 1
        while len(rounds) < 2:  # at least one whole round after the last commit
            threads[0].join(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[0]
    assert {e.level for e in ManifestStore(bucket).load(TENANT).files} == {L2}


def test_compaction_skips_a_day_leased_by_another_compactor(replicated, tmp_path):
    replicated.restore()
    cfg = compactor_config(replicated.bucket_dir, tmp_path)
    bucket = open_bucket(cfg.storage)
    now = (data.T0 + 50 * HOUR) / 1000
    other = Lease(bucket, TENANT, "2024-01-01", "compactor-2", ttl_ms=HOUR, clock=lambda: now)
    assert other.acquire()
    mine = Compactor(cfg, bucket, instance_id="compactor-1", clock=lambda: now)
    summary = mine.run_once([TENANT])
    days = {e.day: e.level for e in ManifestStore(bucket).load(TENANT).files}
    assert days["2024-01-01"] == L0 and days["2023-12-31"] == L2 and summary.jobs == 1
    # Expired (its holder died): the day is taken over.
    later = Compactor(cfg, bucket, instance_id="compactor-1", clock=lambda: now + 2 * HOUR / 1000)
    assert later.run_once([TENANT]).jobs == 1
    assert {e.level for e in ManifestStore(bucket).load(TENANT).files} == {L2}


def downsampled_objects(bucket_dir: Path) -> set[str]:
    return {str(p.relative_to(bucket_dir)) for p in (bucket_dir / TENANT.id / "downsampled").rglob("*.parquet")
            if "/data/" in str(p)}


@pytest.mark.parametrize("crash_at", ["batch", "uploaded", "committed"])
def test_kill_9_while_downsampling_then_the_next_pass_finishes(replicated, tmp_path, crash_at):
    """The data's days ended long ago: after the L2 pass, the next one writes 5m copies."""
    replicated.restore()
    bucket_dir = replicated.bucket_dir
    bucket = open_bucket(compactor_config(bucket_dir, tmp_path).storage)
    assert compact_cli(bucket_dir, tmp_path / "l2").returncode == 0
    crashed = compact_cli(bucket_dir, tmp_path / "first", crash_at)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    replicated.assert_same_answers(every=SAMPLE)  # raw answers are untouched

    assert compact_cli(bucket_dir, tmp_path / "second").returncode == 0
    manifest = ManifestStore(bucket).load(TENANT)
    five = manifest.at_resolution(RES_5M)
    assert sorted(e.day for e in five) == sorted(e.day for e in manifest.files)  # one copy per day, once
    raw = pa.concat_tables([pq.read_table(bucket_dir / e.path, columns=["value"]) for e in manifest.files])
    samples = int((raw.column("value").to_numpy().view(np.uint64) != np.uint64(0x7FF0000000000002)).sum())
    counts = sum(pq.read_table(bucket_dir / e.path, columns=["count"]).column("count").to_numpy().sum() for e in five)
    assert counts == samples  # every raw sample (stale markers apart) counted exactly once

    later = compactor_config(bucket_dir, tmp_path / "sweep")
    now_s = time.time()
    Compactor(later, bucket, clock=lambda: now_s + ORPHAN_GRACE_MS / 1000 + 1).run_once([TENANT])
    Compactor(later, bucket, clock=lambda: now_s + ORPHAN_GRACE_MS / 1000 + 120).run_once([TENANT])
    assert downsampled_objects(bucket_dir) == {e.path for e in manifest.downsampled}  # 5m, maybe a 1h too
