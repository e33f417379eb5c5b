"""The hash ring: KV stores (memory and a real etcd), ownership, health, outages, pages."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tsdb.config import RingConfig
from tsdb.ring import (EtcdKV, InstanceDesc, InstanceState, Lifecycler, MemoryKV, Ring, RingWatcher, add_ring_routes,
                       random_tokens, series_tokens)

FAST = RingConfig(heartbeat_period=200, heartbeat_timeout=1000, poll_period=50, num_tokens=128)


@pytest.fixture(params=["memory", "etcd"])
def kv_and_prefix(request):
    if request.param == "memory":
        return MemoryKV(), "t/"
    return request.getfixturevalue("etcd_kv")


def test_kv_contract(kv_and_prefix):
    kv, p = kv_and_prefix
    assert kv.get(p + "a") is None
    kv.put(p + "a", b"1")
    kv.put(p + "ab", b"\xff\x00")
    kv.put(p[:-1] + "x", b"other")  # outside the prefix
    assert kv.get(p + "a") == b"1"
    assert kv.list_prefix(p) == {p + "a": b"1", p + "ab": b"\xff\x00"}
    assert kv.list_prefix(p + "a") == {p + "a": b"1", p + "ab": b"\xff\x00"}
    assert kv.create(p + "a", b"2") is False and kv.get(p + "a") == b"1"
    assert kv.create(p + "new", b"3") is True
    kv.delete(p + "a")
    assert kv.get(p + "a") is None
    kv.delete(p[:-1] + "x")


def test_create_only_has_one_winner(kv_and_prefix):
    kv, p = kv_and_prefix
    wins = []
    barrier = threading.Barrier(8)

    def race(i):
        barrier.wait()
        if kv.create(p + "lease", str(i).encode()):
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and kv.get(p + "lease") == str(wins[0]).encode()


def _instance(i: int, tokens, state="ACTIVE", hb=1_000_000) -> InstanceDesc:
    return InstanceDesc(f"ing-{i}", f"h:{i}", f"h:{i}", f"h:{i}", state, tuple(tokens), hb, 0)


def _reference_owners(instances, key: int, rf: int) -> list[int]:
    pairs = sorted((t, i) for i, inst in enumerate(instances) for t in inst.tokens)
    start = next((p for p, (t, _) in enumerate(pairs) if t >= key), 0)
    out: list[int] = []
    for k in range(len(pairs)):
        owner = pairs[(start + k) % len(pairs)][1]
        if owner not in out:
            out.append(owner)
        if len(out) == min(rf, len(instances)):
            break
    return out


@pytest.mark.parametrize("seed", range(5))
def test_owners_match_a_reference_walk(seed):
    rng = random.Random(seed)
    taken: set[int] = set()
    instances = []
    for i in range(rng.randint(1, 6)):
        tokens = random_tokens(rng.randint(1, 16), taken, rng)
        taken |= set(tokens)
        instances.append(_instance(i, tokens))
    ring = Ring("ingester", tuple(instances), 1_000_000, 60_000)
    all_tokens = sorted(taken)
    keys = [rng.getrandbits(32) for _ in range(300)] + all_tokens + [0, 2**32 - 1, all_tokens[-1] + 1]
    keys = [k for k in keys if k < 2**32]
    got = ring.owners(np.array(keys, np.uint32), 3)
    for key, row in zip(keys, got):
        assert list(row) == _reference_owners(instances, key, 3), key


def test_series_spread_evenly_and_deterministically():
    rng = random.Random(7)
    taken: set[int] = set()
    instances = []
    for i in range(3):
        tokens = random_tokens(128, taken, rng)
        taken |= set(tokens)
        instances.append(_instance(i, tokens))
    ring = Ring("ingester", tuple(instances), 1_000_000, 60_000)
    ids = np.random.default_rng(1).integers(0, 2**63, 60_000, dtype=np.int64).astype(np.uint64)
    keys = series_tokens("tenant-a", ids)
    assert np.array_equal(keys, series_tokens("tenant-a", ids))
    assert not np.array_equal(keys, series_tokens("tenant-b", ids))
    first = np.bincount(ring.owners(keys, 3)[:, 0], minlength=3) / len(ids)
    assert np.all(np.abs(first - 1 / 3) < 0.08), first
    assert np.all(np.sort(ring.owners(keys, 3), axis=1) == [0, 1, 2])  # RF=3 of 3: everyone


def test_lifecycler_joins_heartbeats_leaves_and_keeps_tokens(kv_and_prefix):
    kv, p = kv_and_prefix
    cfg = replace(FAST, prefix=p)
    watcher = RingWatcher(kv, "ingester", cfg)
    watcher.start()
    try:
        a = Lifecycler(kv, "ingester", cfg, "ing-a", "h:1", "h:2", "h:3")
        a.start(InstanceState.JOINING)
        assert watcher.wait_until(lambda r: len(r) == 1 and r.instances[0].state == "JOINING", 5)
        assert not watcher.ring().healthy(watcher.ring().instances[0])
        a.set_state(InstanceState.ACTIVE)
        assert watcher.wait_until(lambda r: len(r) == 1 and r.healthy(r.instances[0]), 5)
        tokens = a.desc.tokens
        assert len(tokens) == 128
        hb = watcher.ring().instances[0].heartbeat_ms
        assert watcher.wait_until(lambda r: r.instances and r.instances[0].heartbeat_ms > hb, 5)  # heartbeats
        b = Lifecycler(kv, "ingester", cfg, "ing-b", "h:4", "h:5", "h:6")
        b.start()
        assert not set(b.desc.tokens) & set(tokens)
        a.stop(remove=False)  # crashed-ish: entry stays, goes unhealthy without heartbeats
        assert watcher.wait_until(lambda r: r.by_id("ing-a") is not None and not r.healthy(r.by_id("ing-a")), 5)
        again = Lifecycler(kv, "ingester", cfg, "ing-a", "h:1", "h:2", "h:3")
        again.start()
        assert again.desc.tokens == tokens  # a restart keeps its tokens
        again.stop()
        b.stop()
        assert watcher.wait_until(lambda r: len(r) == 0, 5)
    finally:
        watcher.stop()


def test_health_is_judged_by_heartbeat_age():
    kv = MemoryKV()
    now = [1000.0]
    cfg = replace(FAST, heartbeat_timeout=60_000)
    kv.put("mytsdb/rings/ingester/x", _instance(0, [1], hb=1_000_000).to_json())
    watcher = RingWatcher(kv, "ingester", replace(cfg, prefix="mytsdb/"), clock=lambda: now[0])
    watcher.refresh()
    assert watcher.ring().healthy(watcher.ring().instances[0])
    now[0] = 1000 + 61
    watcher.refresh()
    assert not watcher.ring().healthy(watcher.ring().instances[0])


def test_a_kv_outage_freezes_health_and_the_ring_recovers(etcd_server, tmp_path):
    """etcd down for longer than the heartbeat timeout: nobody turns unhealthy, before or
    after it comes back, and a new instance can join afterwards."""
    cfg = replace(FAST, prefix=f"outage-{time.time_ns()}/", etcd_dial_timeout=500)
    kv = EtcdKV([etcd_server.endpoint], timeout_s=cfg.etcd_dial_timeout / 1000)
    members = [Lifecycler(kv, "ingester", cfg, f"ing-{i}", "h", "h", "h") for i in range(3)]
    for m in members:
        m.start()
    watcher = RingWatcher(kv, "ingester", cfg)
    watcher.start()
    flaps: list[str] = []
    stop = threading.Event()

    def observe():
        while not stop.is_set():
            ring = watcher.ring()
            flaps.extend(i.id for i in ring.instances if not ring.healthy(i))
            time.sleep(0.02)

    observer = threading.Thread(target=observe)
    try:
        assert watcher.wait_until(lambda r: len(r.healthy_instances()) == 3, 5)
        observer.start()
        etcd_server.stop()
        time.sleep(cfg.heartbeat_timeout / 1000 * 2.5)
        assert not watcher.kv_reachable and len(watcher.ring()) == 3
        etcd_server.start()
        assert watcher.wait_until(lambda r: watcher.kv_reachable, 10)
        time.sleep((cfg.heartbeat_period + cfg.heartbeat_timeout) / 1000 * 2)
        stop.set()
        observer.join()
        assert flaps == []
        late = Lifecycler(kv, "ingester", cfg, "ing-late", "h", "h", "h")
        late.start()
        assert watcher.wait_until(lambda r: len(r.healthy_instances()) == 4, 5)
        late.stop()
    finally:
        stop.set()
        if etcd_server.proc.poll() is not None:
            etcd_server.start()
        watcher.stop()
        for m in members:
            m.stop()


def test_ring_pages_html_json_and_forget():
    kv = MemoryKV()
    cfg = replace(FAST, prefix="mytsdb/")
    members = [Lifecycler(kv, "ingester", cfg, f"ing-{i}", f"10.0.0.{i}:9095", "h", "h") for i in range(3)]
    for m in members:
        m.start()
    watchers = {"ingester": RingWatcher(kv, "ingester", cfg), "compactor": RingWatcher(kv, "compactor", cfg)}
    for w in watchers.values():
        w.refresh()
    app = FastAPI()
    add_ring_routes(app, watchers, kv, "mytsdb/")
    client = TestClient(app)
    try:
        data = client.get("/ingester/ring", headers={"Accept": "application/json"}).json()
        assert [s["id"] for s in data["shards"]] == ["ing-0", "ing-1", "ing-2"]
        assert all(s["state"] == "ACTIVE" and s["healthy"] and s["tokens"] == 128 for s in data["shards"])
        assert abs(sum(s["ownership"] for s in data["shards"]) - 100) < 0.01
        assert client.get("/ring", headers={"Accept": "application/json"}).json()["shards"] == data["shards"]
        page = client.get("/ingester/ring")
        assert page.headers["content-type"].startswith("text/html") and "ing-1" in page.text
        assert client.get("/compactor/ring", headers={"Accept": "application/json"}).json()["shards"] == []
        assert client.get("/store-gateway/ring").status_code == 404
        r = client.post("/ingester/ring", data={"forget": "ing-1"}, follow_redirects=False)
        assert r.status_code == 302
        ids = [s["id"] for s in client.get("/ring", headers={"Accept": "application/json"}).json()["shards"]]
        assert ids == ["ing-0", "ing-2"]
    finally:
        for m in members:
            m.stop()
