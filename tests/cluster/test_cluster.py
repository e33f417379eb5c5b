"""End to end on a real cluster: remote write through the distributor to three ingesters
(RF=3), PromQL through the querier, with ingesters and store gateways killed."""
from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest

from flight.client import QueryClient
from promql import parse_series_selector
from tests.cluster.conftest import CACHE_BOUND
from tests.differential.load import HEADERS
from tsdb.remote_write.encode import encode_series
from tsdb.tenancy import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.s3]
BASE = 1_700_000_000_000
STEP = 15_000
POINTS = 20
SERIES = 40


def batch(k: int, tenant_tag: str = "a") -> list:
    """Batch k: SERIES series with POINTS samples each, after every earlier batch in time."""
    t0 = BASE + k * POINTS * STEP
    return [({"__name__": "stream_total", "shard": str(i), "tag": tenant_tag},
             [(t0 + j * STEP, float(k * POINTS + j)) for j in range(POINTS)]) for i in range(SERIES)]


def push(url: str, tenant: str, series) -> httpx.Response:
    return httpx.post(url + "/api/v1/push", content=encode_series(series),
                      headers=HEADERS | {"X-Scope-OrgID": tenant}, timeout=30)


def pushed(url: str, tenant: str, series) -> None:
    r = push(url, tenant, series)
    assert r.status_code == 204, r.text


def count(querier: str, tenant: str, selector: str = '{__name__="stream_total"}') -> httpx.Response:
    return httpx.get(querier + "/api/v1/query", params={
        "query": f"sum(count_over_time({selector}[100y]))", "time": (BASE + 10**9) / 1000},
        headers={"X-Scope-OrgID": tenant}, timeout=60)


def counted(querier: str, tenant: str) -> int:
    r = count(querier, tenant)
    assert r.status_code == 200, r.text
    result = r.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def flush_all(cluster) -> None:
    for i in (1, 2, 3):
        r = httpx.post(cluster[f"ingester-{i}"].url + "/ingester/flush?wait=true", timeout=120)
        assert r.status_code == 204, r.text


def test_writes_and_queries_with_one_ingester_killed_and_restarted(cluster):
    tenant = "stream"
    for k in range(3):
        pushed(cluster.distributor, tenant, batch(k))
    flush_all(cluster)  # some data in the bucket (store gateways), the rest in the heads
    sent = 3 * SERIES * POINTS
    statuses: list[int] = []
    stop = threading.Event()

    def stream():
        k = 3
        while not stop.is_set() and k < 40:
            statuses.append(push(cluster.distributor, tenant, batch(k)).status_code)
            k += 1
            time.sleep(0.05)

    writer = threading.Thread(target=stream)
    writer.start()
    time.sleep(0.5)
    victim = cluster["ingester-2"]
    victim.kill()  # kill -9 during the stream
    time.sleep(1.5)
    stop.set()
    writer.join()
    assert statuses and all(s == 204 for s in statuses), statuses
    sent += len(statuses) * SERIES * POINTS
    assert counted(cluster.querier, tenant) == sent  # one ingester down: still complete

    # What the victim had acknowledged before it died comes back from its WAL.
    victim.launch().wait_ready()
    client = QueryClient(victim.flight_addr)
    replayed = client.select(Tenant(tenant), parse_series_selector('{__name__="stream_total"}').matchers,
                             BASE, BASE + 10**9)
    client.close()
    assert len(replayed.timestamps) > 0
    assert counted(cluster.querier, tenant) == sent
    pushed(cluster.distributor, tenant, batch(50))
    assert counted(cluster.querier, tenant) == sent + SERIES * POINTS


def test_two_ingesters_down_is_an_error_not_a_wrong_answer(cluster):
    tenant = "two-down"
    pushed(cluster.distributor, tenant, batch(0))
    a, b = cluster["ingester-1"], cluster["ingester-3"]
    a.kill()
    b.kill()
    try:
        r = count(cluster.querier, tenant)
        assert r.status_code == 503 and r.json()["errorType"] == "unavailable"
        assert "too many unhealthy ingesters" in r.json()["error"]
        w = push(cluster.distributor, tenant, batch(1))
        assert w.status_code == 500, w.text
    finally:
        for p in (a, b):
            p.launch()
        for p in (a, b):
            p.wait_ready()
    # The failed write may have landed on the surviving replica (as in Mimir); Prometheus retries a 5xx,
    # and the retry's samples count once.
    pushed(cluster.distributor, tenant, batch(1))
    assert counted(cluster.querier, tenant) == 2 * SERIES * POINTS


def gateway_cache(gw) -> dict[str, float]:
    text = httpx.get(gw.url + "/metrics", timeout=10).text
    return {line.split()[0].removeprefix("mytsdb_store_gateway_cache_"): float(line.split()[1])
            for line in text.splitlines() if line.startswith("mytsdb_store_gateway_cache_")}


def test_a_store_gateway_down_and_restarted_cold(cluster):
    tenant = "gateway"
    for k in range(2):
        pushed(cluster.distributor, tenant, batch(k))
    flush_all(cluster)
    want = 2 * SERIES * POINTS
    assert counted(cluster.querier, tenant) == want
    assert counted(cluster.querier, tenant) == want  # again: from the gateways' disk caches
    gw = cluster["store-gateway-1"]
    for g in (gw, cluster["store-gateway-2"]):
        stats = gateway_cache(g)
        assert 0 < stats["bytes"] <= stats["max_bytes"] == CACHE_BOUND, stats
    gw.kill()
    assert counted(cluster.querier, tenant) == want  # files fail over to store-gateway-2
    cache_dir = gw.root / gw.instance_id / "store-gateway-cache"
    assert cache_dir.is_dir()
    shutil.rmtree(cache_dir)  # restarted cold
    gw.launch().wait_ready()
    for _ in range(3):
        assert counted(cluster.querier, tenant) == want
    stats = gateway_cache(gw)
    assert stats["misses_total"] > 0 and 0 < stats["bytes"] <= CACHE_BOUND, stats
    on_disk = sum(f.stat().st_size for f in cache_dir.iterdir())
    assert on_disk == stats["bytes"]


def test_tenants_never_see_each_other(cluster):
    pushed(cluster.distributor, "iso-a", batch(0, "a"))
    pushed(cluster.distributor, "iso-b", batch(0, "b"))
    flush_all(cluster)
    assert counted(cluster.querier, "iso-a") == SERIES * POINTS
    with httpx.Client(base_url=cluster.querier, headers={"X-Scope-OrgID": "iso-a"}, timeout=30) as c:
        assert c.get("/api/v1/label/tag/values").json()["data"] == ["a"]
        series = c.get("/api/v1/series", params={"match[]": '{__name__=~".+"}'}).json()["data"]
        assert {s["tag"] for s in series} == {"a"}
    # Flight, straight to an ingester: only the caller's tenant, and never without one.
    client = QueryClient(cluster["ingester-1"].flight_addr)
    everything = parse_series_selector('{__name__=~".+"}').matchers
    got = client.select(Tenant("iso-a"), everything, BASE, BASE + 10**9)
    assert {d["tag"] for d in got.labels} == {"a"}

    class NoTenant:
        id = ""

    with pytest.raises(PermissionError):
        client.select(NoTenant(), everything, BASE, BASE + 10**9)
    client.close()
    # A store gateway refuses tenant B's files under tenant A's identity.
    from flight.errors import RemoteError
    from tsdb.manifest import ManifestStore
    from tsdb.storage.bucket import open_bucket
    from tsdb.config import load_config
    cfg = load_config(cluster["querier-1"].config_path)
    b_files = [e.path for e in ManifestStore(open_bucket(cfg.storage)).load(Tenant("iso-b")).files]
    assert b_files
    gateway = QueryClient(cluster["store-gateway-1"].flight_addr)
    with pytest.raises(RemoteError, match="not in tenant iso-a's manifest"):
        gateway.select(Tenant("iso-a"), everything, BASE, BASE + 10**9, files=b_files)
    gateway.close()
    r = httpx.post(cluster.distributor + "/api/v1/push", content=encode_series(batch(1)), headers=HEADERS
                   | {"X-Scope-OrgID": "../b"})
    assert r.status_code == 400


def test_ring_pages(cluster):
    r = httpx.get(cluster.querier + "/ingester/ring", headers={"Accept": "application/json"})
    shards = r.json()["shards"]
    assert sorted(s["id"] for s in shards) == ["ingester-1", "ingester-2", "ingester-3"]
    gw = httpx.get(cluster.querier + "/store-gateway/ring", headers={"Accept": "application/json"}).json()
    assert sorted(s["id"] for s in gw["shards"]) == ["store-gateway-1", "store-gateway-2"]
    assert "ingester-1" in httpx.get(cluster.distributor + "/ring").text


def test_flight_sql_on_the_querier_reads_the_bucket_and_the_ingesters(cluster):
    """Flushed batches from S3 (DataFusion's own S3 client), the unflushed one from the
    ingesters' heads, RF copies counted once; another tenant's data stays out."""
    import adbc_driver_flightsql.dbapi as flight_sql

    pushed(cluster.distributor, "sql-a", batch(0, "a"))
    pushed(cluster.distributor, "sql-b", batch(0, "b"))
    flush_all(cluster)
    pushed(cluster.distributor, "sql-a", batch(1, "a"))  # stays in the heads
    options = {"adbc.flight.sql.rpc.call_header.x-scope-orgid": "sql-a"}
    with flight_sql.connect(f"grpc://{cluster['querier-1'].flight_addr}", db_kwargs=options) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT series_id), min(tag), max(tag), sum(value) FROM samples")
        want_sum = float(sum(k * POINTS + j for k in (0, 1) for j in range(POINTS)) * SERIES)
        assert cur.fetchall() == [(2 * SERIES * POINTS, SERIES, "a", "a", want_sum)]
        cur.execute(f"SELECT sum(value) FROM promql('count_over_time(stream_total[100y])', {(BASE + 10**9) / 1000}, "
                    f"{(BASE + 10**9) / 1000}, '1m')")
        assert cur.fetchall() == [(float(2 * SERIES * POINTS),)]
