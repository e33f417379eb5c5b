"""Flight SQL over a bucket on a real S3 server (SeaweedFS): DataFusion's own S3 client reads
the manifest's files under the configured key prefix, next to the head."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.fixtures.server import BACKFILL_CONFIG
from tests.sql.conftest import connect, points, push, rows

pytestmark = pytest.mark.s3


def test_flight_sql_reads_s3_files_and_the_head(s3_server, mytsdb_factory):
    storage = s3_server.storage_config(prefix=f"sql-{uuid.uuid4().hex[:8]}")
    config = {**BACKFILL_CONFIG, "storage": {"backend": "s3", "s3": dataclasses.asdict(storage.s3)},
              "compactor": {"compaction_interval": "1000h"}}
    server = mytsdb_factory(config=config).start()
    series = [{"__name__": "sq_s3", "instance": f"i{i}"} for i in range(3)]
    push(server, "sq-s3", [(lb, points(0, 100)) for lb in series])
    server.flush()
    push(server, "sq-s3", [(lb, points(90, 120)) for lb in series])  # 10 copies of flushed samples, 20 new
    push(server, "sq-other", [(series[0], points(0, 7))])
    server.flush()
    push(server, "sq-s3", [(lb, points(120, 125)) for lb in series])  # the head
    with connect(server, "sq-s3") as conn:
        assert rows(conn, "SELECT instance, count(*), sum(value) FROM samples GROUP BY 1 ORDER BY 1") == [
            (lb["instance"], 125, float(sum(range(125)))) for lb in series]
        assert rows(conn, "SELECT count(*), sum(samples) FROM series") == [(3, 375)]
    with connect(server, "sq-other") as conn:
        assert rows(conn, "SELECT count(*) FROM samples") == [(7,)]
