"""RF=3 L0 copies of the differential data, made once per run, and a real `all`-mode server
that answers PromQL over a bucket restored from them before each test."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.differential import data
from tests.differential.compare import Answers, compare_runs, evaluations, run_queries
from tests.differential.queries import Query, load_queries
from tests.fixtures.server import BACKFILL_CONFIG, MytsdbProcess
from tests.query.conftest import service_config
from tsdb.config import Config, config_from_dict
from tsdb.layout.columns import SERIES_ID, TIMESTAMP
from tsdb.remote_write.encode import encode_series
from tsdb.services import Services
from tsdb.tenancy import Tenant

TENANT = Tenant("differential")
ROW_GROUP_ROWS = 20_000


def compactor_config(bucket_dir: Path, scratch: Path, overrides: dict | None = None, **compactor) -> Config:
    return config_from_dict(service_config(
        scratch, storage={"backend": "filesystem", "filesystem": {"directory": str(bucket_dir)}},
        compactor={"row_group_rows": ROW_GROUP_ROWS, "merge_batch_samples": 50_000, "deletion_delay": "1m",
                   "downsampling_enabled": False, **compactor},
        overrides=overrides or {}))


def unique_samples(bucket_dir: Path, paths) -> int:
    pairs = set()
    for p in paths:
        t = pq.read_table(bucket_dir / p, columns=[SERIES_ID, TIMESTAMP])
        pairs.update(zip(t.column(SERIES_ID).to_numpy().tolist(), t.column(TIMESTAMP).cast("int64").to_numpy().tolist()))
    return len(pairs)


@dataclass
class ReplicatedBucket:
    """`server` reads `bucket_dir`; `restore()` puts the three replicas' L0 files back."""

    template: Path
    server: MytsdbProcess
    queries: list[Query]
    evals: list
    reference: Answers
    unique: int

    @property
    def bucket_dir(self) -> Path:
        return self.server.data_dir / "bucket"

    @property
    def headers(self) -> dict:
        return {"X-Scope-OrgID": TENANT.id}

    def restore(self) -> None:
        shutil.rmtree(self.bucket_dir, ignore_errors=True)
        shutil.copytree(self.template, self.bucket_dir)

    def answers(self, workers: int = 4, every: int = 1) -> Answers:
        return run_queries(self.server.url, self.queries[::every], self.evals, self.headers, workers=workers)

    def assert_same_answers(self, every: int = 1) -> None:
        """All of the differential queries, or every `every`-th (about 400 evaluations at 8)."""
        report = compare_runs(self.queries[::every], self.evals, self.reference, self.answers(every=every))
        assert not report.differences, report.format(20)


@pytest.fixture(scope="session")
def replicated(tmp_path_factory) -> ReplicatedBucket:
    root = tmp_path_factory.mktemp("replicated")
    template = root / "template"
    bodies = [encode_series(c) for c in data.chunks(data.generate())]
    half = len(bodies) // 2
    for i in (1, 2, 3):
        services = Services.build(compactor_config(template, root / f"ingester-{i}"), instance_id=f"ingester-{i}")
        services.start()
        for k, body in enumerate(bodies):
            assert services.distributor.push(TENANT, body).status == 204
            if k == half + i:  # replicas cut their heads at different moments, as real ones do
                services.ingester.flush(TENANT)
        services.stop()  # flushes the rest
    server = MytsdbProcess(root / "server", BACKFILL_CONFIG)
    server.data_dir.mkdir()
    shutil.copytree(template, server.data_dir / "bucket")
    server.start()
    queries = load_queries()
    evals = evaluations(data.INSTANT_TIMES_MS[:3], data.RANGE_WINDOWS[:2])
    reference = run_queries(server.url, queries, evals, {"X-Scope-OrgID": TENANT.id}, workers=4)
    paths = [p.relative_to(template) for p in (template / TENANT.id / "data").rglob("*.parquet")]
    yield ReplicatedBucket(template, server, queries, evals, reference, unique_samples(template, paths))
    server.kill()
