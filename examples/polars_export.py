"""Raw samples into polars, through MyTSDB's Python client.

    python examples/polars_export.py --url http://127.0.0.1:9009 --tenant anonymous \
        --match '{job="api"}' --start 2026-11-24T00:00:00Z --end 2026-11-24T01:00:00Z
"""
from __future__ import annotations

import argparse

import polars as pl

from tsdb.client import Client


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:9009")
    p.add_argument("--flight", help="grpc+tcp://HOST:PORT of the Flight port")
    p.add_argument("--tenant", default="anonymous")
    p.add_argument("--match", default='{__name__=~".+"}')
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    a = p.parse_args(argv)
    df = Client(a.url, tenant=a.tenant, flight_url=a.flight).export(a.match, a.start, a.end).to_polars()
    print(f"{df.height:,} samples; schema: {df.schema}")
    per_metric = (df.group_by("metric").agg(pl.len().alias("samples"), pl.col("value").min().alias("min"),
                                            pl.col("value").max().alias("max"))
                  .sort("samples", descending=True))
    print(per_metric.head(10))
    per_minute = (df.sort("timestamp").group_by_dynamic("timestamp", every="1m", group_by="metric")
                  .agg(pl.col("value").mean().alias("mean")))
    print(per_minute.head(5))


if __name__ == "__main__":
    main()
