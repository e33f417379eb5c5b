"""Raw samples into polars, through MyTSDB's Python client.

    python examples/polars_export.py --url http://127.0.0.1:9009 --tenant anonymous \
        --match '{job="api"}' --start 2026-11-24T00:00:00Z --end 2026-11-24T01:00:00Z
    (add --flight grpc+tcp://127.0.0.1:8815 to stream the export over Arrow Flight; defaults
    come from $MYTSDB_URL, $MYTSDB_FLIGHT_URL, $MYTSDB_TENANT, $MYTSDB_MATCH, $MYTSDB_START
    and $MYTSDB_END; without a start, the hour before the end, which defaults to now)
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import polars as pl

from tsdb.client import Client


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("MYTSDB_URL", "http://127.0.0.1:9009"))
    p.add_argument("--flight", default=os.environ.get("MYTSDB_FLIGHT_URL"),
                   help="grpc+tcp://HOST:PORT of the Flight port")
    p.add_argument("--tenant", default=os.environ.get("MYTSDB_TENANT", "anonymous"))
    p.add_argument("--match", default=os.environ.get("MYTSDB_MATCH", '{__name__=~".+"}'))
    p.add_argument("--end", default=os.environ.get("MYTSDB_END", f"{time.time():.3f}"))
    p.add_argument("--start", default=os.environ.get("MYTSDB_START"), help="default: an hour before --end")
    a = p.parse_args(argv)
    a.start = a.start or _hour_before(a.end)
    df = Client(a.url, tenant=a.tenant, flight_url=a.flight).export(a.match, a.start, a.end).to_polars()
    print(f"{df.height:,} samples; schema: {df.schema}")
    per_metric = (df.group_by("metric").agg(pl.len().alias("samples"), pl.col("value").min().alias("min"),
                                            pl.col("value").max().alias("max"))
                  .sort("samples", descending=True))
    print(per_metric.head(10))
    per_minute = (df.sort("timestamp").group_by_dynamic("timestamp", every="1m", group_by="metric")
                  .agg(pl.col("value").mean().alias("mean")))
    print(per_minute.head(5))


def _hour_before(end: str) -> str:
    try:
        return f"{float(end) - 3600:.3f}"
    except ValueError:  # RFC 3339
        return (dt.datetime.fromisoformat(end.replace("Z", "+00:00")) - dt.timedelta(hours=1)).isoformat()


if __name__ == "__main__":
    main()
