"""Mimir's ring status pages: HTML for people, JSON (`Accept: application/json`) for scripts."""
from __future__ import annotations

import datetime as dt
import html
import urllib.parse

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tsdb.ring.desc import ring_key
from tsdb.ring.kv import KV, KVUnavailable
from tsdb.ring.ring import Ring
from tsdb.ring.watcher import RingWatcher

PATHS = {"ingester": ("/ingester/ring", "/ring"), "store-gateway": ("/store-gateway/ring",),
         "compactor": ("/compactor/ring",), "distributor": ("/distributor/ring",)}
_TOKEN_SPACE = 2 ** 32


def _rfc3339(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def ownership(ring: Ring) -> dict[str, float]:
    """Percent of the token space each instance owns as first owner."""
    pairs = sorted((t, inst.id) for inst in ring.instances for t in inst.tokens)
    if not pairs:
        return {}
    tokens = np.array([t for t, _ in pairs], np.int64)
    # A token owns the span from the previous token (exclusive) up to itself.
    spans = np.diff(np.r_[tokens[-1] - _TOKEN_SPACE, tokens])
    out: dict[str, float] = {}
    for (_, owner), span in zip(pairs, spans):
        out[owner] = out.get(owner, 0.0) + float(span) * 100 / _TOKEN_SPACE
    return out


def ring_json(ring: Ring) -> dict:
    owned = ownership(ring)
    return {"shards": [{"id": i.id, "state": i.state, "address": i.addr, "http_address": i.http_addr,
                        "flight_address": i.flight_addr, "timestamp": _rfc3339(i.heartbeat_ms),
                        "registered_timestamp": _rfc3339(i.registered_ms), "tokens": len(i.tokens),
                        "ownership": round(owned.get(i.id, 0.0), 3), "healthy": ring.healthy(i, allow_leaving=True)}
                       for i in ring.instances],
            "now": _rfc3339(ring.judged_at_ms)}


def ring_html(name: str, data: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s['id'])}</td><td>{s['state']}{'' if s['healthy'] else ' (unhealthy)'}</td>"
        f"<td>{html.escape(s['address'])}</td><td>{s['registered_timestamp']}</td><td>{s['timestamp']}</td>"
        f"<td>{s['tokens']}</td><td>{s['ownership']:.1f}%</td>"
        f"<td><form method='post'><input type='hidden' name='forget' value='{html.escape(s['id'])}'>"
        f"<button type='submit'>Forget</button></form></td></tr>" for s in data["shards"])
    return (f"<!DOCTYPE html><html><head><title>{name} ring</title></head><body><h1>{name} ring</h1>"
            f"<p>Judged at {data['now']}</p><table border='1'><tr><th>Instance ID</th><th>State</th><th>Address</th>"
            f"<th>Registered at</th><th>Last heartbeat</th><th>Tokens</th><th>Ownership</th><th></th></tr>"
            f"{rows}</table></body></html>")


def add_ring_routes(app: FastAPI, watchers: dict[str, RingWatcher], kv: KV, prefix: str) -> None:
    for name, paths in PATHS.items():
        watcher = watchers.get(name)
        if watcher is not None:
            for path in paths:
                app.add_api_route(path, _page_handler(name, watcher, kv, prefix), methods=["GET", "POST"])


def _page_handler(name: str, watcher: RingWatcher, kv: KV, prefix: str):
    async def page(request: Request) -> Response:
        if request.method == "POST":
            form = urllib.parse.parse_qs((await request.body()).decode())
            forget = (form.get("forget") or [None])[0]
            if forget:
                try:
                    kv.delete(ring_key(prefix, name, forget))
                except KVUnavailable as e:
                    return Response(f"cannot forget {forget}: {e}\n", status_code=503)
                watcher.refresh()
            return RedirectResponse(request.url.path, status_code=302)
        data = ring_json(watcher.ring())
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(data)
        return HTMLResponse(ring_html(name, data))

    return page
