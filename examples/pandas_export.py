"""Raw samples and PromQL results into pandas, through MyTSDB's Python client.

    python examples/pandas_export.py --url http://127.0.0.1:9009 --tenant anonymous \
        --match '{job="api"}' --start 2026-11-24T00:00:00Z --end 2026-11-24T01:00:00Z
    (add --flight grpc+tcp://127.0.0.1:8815 to stream the export over Arrow Flight)

Frames are tidy: one row per sample, `timestamp` (datetime64[ms, UTC]), `value`, one column
per label (`metric` for the metric name).
"""
from __future__ import annotations

import argparse

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
    client = Client(a.url, tenant=a.tenant, flight_url=a.flight)
    df = client.export(a.match, a.start, a.end).to_pandas()
    print(f"{len(df):,} samples of {df.groupby('metric').ngroups} metrics; dtypes:")
    print(df.dtypes.to_string())
    print(df.groupby("metric")["value"].agg(["count", "min", "max", "mean"]).head(10).to_string())
    # One column per series over time, resampled to 1 minute: the shape most analyses want.
    labels = [c for c in df.columns if c not in ("timestamp", "value")]
    series = df.groupby(labels, dropna=False, sort=False).ngroup()
    wide = df.assign(series=series).pivot_table(index="timestamp", columns="series", values="value")
    print(wide.resample("1min").last().iloc[:5, :3].to_string())
    rates = client.query_range(f"rate({a.match}[5m])", a.start, a.end, "60s").to_pandas()
    print(f"PromQL rate(...[5m]): {len(rates):,} points")


if __name__ == "__main__":
    main()
