"""A failed upload keeps the head and WAL; the retry succeeds and nothing is lost."""
from __future__ import annotations

import time

import pyarrow.parquet as pq
import pytest

from tests.support import expected_rows, make_series, rows_from_table
from tsdb.config import config_from_dict
from tsdb.remote_write.encode import encode_series
from tsdb.services import Services
from tsdb.tenancy import Tenant


def test_failed_upload_is_retried_without_loss(tmp_path, monkeypatch):
    cfg = config_from_dict({"data_dir": str(tmp_path), "limits": {"out_of_order_time_window": "100y"}})
    services = Services.build(cfg)
    services.start()
    try:
        tenant = Tenant("retry")
        series = make_series(n_instances=1, n_points=20)
        assert services.distributor.push(tenant, encode_series(series)).status == 204

        real_put = services.bucket.put
        monkeypatch.setattr(services.bucket, "put", lambda *a, **k: (_ for _ in ()).throw(OSError("S3 is down")))
        with pytest.raises(OSError):
            services.ingester.flush(tenant)
        # Still readable from the frozen head, still in the WAL, nothing committed.
        assert services.reader.series(tenant).num_rows == len(series)
        assert services.manifests.load(tenant).version == 0
        assert list((tmp_path / "wal" / "retry").glob("*.seg"))
        db = services.ingester.existing(tenant)
        assert db.failures == 1 and db.next_retry > time.monotonic()

        # More data arrives while the flush is pending; both end up in the bucket.
        more = [({"__name__": "late_metric"}, [(series[0][1][-1][0] + 1000, 1.0)])]
        assert services.distributor.push(tenant, encode_series(more)).status == 204
        monkeypatch.setattr(services.bucket, "put", real_put)
        services.ingester.flush(tenant)  # the pending block
        services.ingester.flush(tenant)  # what arrived meanwhile
        files = [f.path for f in services.manifests.load(tenant).files]
        rows = set()
        for f in files:
            rows |= rows_from_table(pq.read_table(tmp_path / "bucket" / f))
        assert rows == expected_rows(series + more)
    finally:
        services.stop()
