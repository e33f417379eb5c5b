"""etcd stopped for 2 minutes under a running cluster (heartbeat timeout 10 s): writes and
queries keep working throughout, and the ring recovers when etcd is back."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.cluster.test_cluster import POINTS, SERIES, batch, counted, push

pytestmark = [pytest.mark.slow, pytest.mark.s3]
OUTAGE_S = 120


def test_etcd_outage_of_two_minutes(cluster, etcd_server):
    tenant = "outage"
    etcd_server.stop()
    sent, k = 0, 0
    try:
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            r = push(cluster.distributor, tenant, batch(k))
            assert r.status_code == 204, f"write failed {time.monotonic() - deadline + OUTAGE_S:.0f}s in: {r.text}"
            sent += SERIES * POINTS
            k += 1
            assert counted(cluster.querier, tenant) == sent
            time.sleep(2)
    finally:
        etcd_server.start()
    ring_url = cluster.querier + "/ingester/ring"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shards = httpx.get(ring_url, headers={"Accept": "application/json"}).json()["shards"]
        if len(shards) == 3 and all(s["healthy"] for s in shards):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"ring did not recover: {shards}")
    # Past the grace period after recovery, health is judged on fresh heartbeats again.
    time.sleep(8)
    shards = httpx.get(ring_url, headers={"Accept": "application/json"}).json()["shards"]
    assert all(s["healthy"] for s in shards)
    assert push(cluster.distributor, tenant, batch(k)).status_code == 204
    assert counted(cluster.querier, tenant) == sent + SERIES * POINTS
