"""Raw samples and PromQL results into pandas, through MyTSDB's Python client.

    python examples/pandas_export.py --url http://127.0.0.1:9009 --tenant anonymous \
        --match '{job="api"}' --start 2026-11-24T00:00:00Z --end 2026-11-24T01:00:00Z
    (add --flight grpc+tcp://127.0.0.1:8815 to stream the export over Arrow Flight; defaults
    come from $MYTSDB_URL, $MYTSDB_FLIGHT_URL, $MYTSDB_TENANT, $MYTSDB_MATCH, $MYTSDB_START
    and $MYTSDB_END; without a start, the hour before the end, which defaults to now)

Frames are tidy: one row per sample, `timestamp` (datetime64[ms, UTC]), `value`, one column
per label (`metric` for the metric name).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import time

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


def _hour_before(end: str) -> str:
    try:
        return f"{float(end) - 3600:.3f}"
    except ValueError:  # RFC 3339
        return (dt.datetime.fromisoformat(end.replace("Z", "+00:00")) - dt.timedelta(hours=1)).isoformat()


if __name__ == "__main__":
    main()
