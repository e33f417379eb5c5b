"""/api/v1/series, /labels and /label/<name>/values over head plus bucket."""
from __future__ import annotations

import threading
import time

from tests.support import BASE_TS, make_series
from tsdb.remote_write.encode import encode_series

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}


def _push(c, series):
    r = c.post("/api/v1/push", content=encode_series(series), headers=HEADERS)
    assert r.status_code == 204, r.text


def test_series_labels_values_across_head_and_bucket(mytsdb):
    flushed = make_series(n_instances=2, n_points=20)
    in_head = [({"__name__": "head_only_metric", "job": "batch", "instance": "h1"}, [(BASE_TS, 1.0)])]
    with mytsdb.client("meta") as c, mytsdb.client("other") as o:
        _push(c, flushed)
        mytsdb.flush()
        _push(c, in_head)
        _push(o, [({"__name__": "secret_metric", "job": "hidden"}, [(BASE_TS, 1.0)])])

        r = c.get("/api/v1/series", params={"match[]": '{job=~"api|batch", __name__=~"up|head_only_metric"}'})
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "success"
        got = sorted((s["__name__"], s["instance"]) for s in body["data"])
        assert got == [("head_only_metric", "h1"), ("up", "10.0.0.0:9100"), ("up", "10.0.0.1:9100")]

        names = c.get("/api/v1/labels").json()["data"]
        assert names == ["__name__", "code", "instance", "job", "le"]
        jobs = c.get("/api/v1/label/job/values").json()["data"]
        assert jobs == ["api", "batch"]
        le = c.get("/api/v1/label/le/values", params={"match[]": "rpc_duration_seconds_bucket"}).json()["data"]
        assert le == ["+Inf", "0.1", "0.5", "1"]
        # Two match[] are a union; POST form works too.
        r = c.post("/prometheus/api/v1/series", data={"match[]": ["head_only_metric", 'up{instance="10.0.0.1:9100"}']})
        assert len(r.json()["data"]) == 2

        # Time range: the flushed data ends 20 samples after BASE_TS.
        late = c.get("/api/v1/series", params={"match[]": "up", "start": str(BASE_TS / 1000 + 3600)}).json()["data"]
        assert late == []
        rfc = c.get("/api/v1/series", params={"match[]": "up", "start": "2023-11-14T22:13:20Z",
                                               "end": "2023-11-14T22:20:00Z"}).json()["data"]
        assert len(rfc) == 2

        # Tenant isolation: `meta` never sees `other`'s series or label values.
        assert "hidden" not in c.get("/api/v1/label/job/values").json()["data"]
        assert o.get("/api/v1/label/job/values").json()["data"] == ["hidden"]


def test_series_api_errors(mytsdb):
    with mytsdb.client("errs") as c:
        r = c.get("/api/v1/series")
        assert r.status_code == 400
        assert r.json() == {"status": "error", "errorType": "bad_data", "error": "no match[] parameter provided"}
        r = c.get("/api/v1/series", params={"match[]": "up{"})
        assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
        assert "parse error" in r.json()["error"]
        r = c.get("/api/v1/series", params={"match[]": "up", "start": "yesterday"})
        assert r.status_code == 400
        assert r.json()["error"] == 'invalid parameter "start": cannot parse "yesterday" to a valid timestamp'
        r = c.get("/api/v1/label/bad-name/values")
        assert r.status_code == 400 and r.json()["error"] == 'invalid label name: "bad-name"'
    with mytsdb.client("bad/tenant") as c:
        assert c.get("/api/v1/labels").status_code == 400


def test_no_sample_is_invisible_during_flushes(mytsdb):
    """While flushes run back to back, every pushed series stays visible."""
    stop = threading.Event()
    errors: list[str] = []

    def flusher():
        while not stop.is_set():
            mytsdb.flush()

    pushed: set[str] = set()
    t = threading.Thread(target=flusher)
    t.start()
    try:
        with mytsdb.client("vis") as c:
            for i in range(30):
                _push(c, [({"__name__": "vis_metric", "i": str(i)}, [(BASE_TS + i * 1000, float(i))])])
                pushed.add(str(i))
                seen = {s["i"] for s in c.get("/api/v1/series", params={"match[]": "vis_metric"}).json()["data"]}
                if seen != pushed:
                    errors.append(f"after push {i}: missing {sorted(pushed - seen)}")
                time.sleep(0.01)
    finally:
        stop.set()
        t.join()
    assert not errors
