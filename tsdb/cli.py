"""The `mytsdb` command.

    mytsdb all [--config FILE] [--data-dir DIR] [--http-port N] [--grpc-port N] [--flight-port N]
    mytsdb distributor|ingester|store-gateway|querier|compactor [all's flags] [--instance-id ID]
                                       one service of distributed mode (ring KV: `ring.kvstore: etcd`)
    mytsdb config [--config FILE]      print the effective configuration as YAML
    mytsdb compact --once [--config FILE] [--data-dir DIR] [--tenant T ...]
                                       one compaction pass over the bucket, with a progress bar
    mytsdb explain [--config FILE] [--data-dir DIR] --tenant T [--start T] [--end T] EXPR
                                       how storage answers each selector (bucket only, no head)
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import signal
import socket
import sys
import time

import yaml

from tsdb.config import Config, ConfigError, load_config


def _common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML configuration file")
    p.add_argument("--data-dir", metavar="DIR", help="local state: bucket (filesystem backend) and WAL")
    p.add_argument("--http-port", type=int, metavar="N", help="HTTP port (default 9009)")
    p.add_argument("--grpc-port", type=int, metavar="N", help="gRPC port (default 9095)")
    p.add_argument("--flight-port", type=int, metavar="N", help="Arrow Flight port (default 8815)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _load(args: argparse.Namespace) -> Config:
    flags = {
        "data_dir": args.data_dir,
        "server.http_port": args.http_port,
        "server.grpc_port": args.grpc_port,
        "server.flight_port": args.flight_port,
    }
    return load_config(args.config, {k: v for k, v in flags.items() if v is not None})


ROLE_HELP = {
    "distributor": "distributed mode: receive remote write, replicate to ingesters over gRPC",
    "ingester": "distributed mode: WAL + head, flush Parquet, serve recent data over Flight",
    "store-gateway": "distributed mode: serve the bucket's Parquet files over Flight",
    "querier": "distributed mode: the Prometheus API, fanning out to ingesters and store gateways",
    "compactor": "distributed mode: compaction (joins the compactor ring)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mytsdb", description="MyTSDB: a Prometheus-compatible lakehouse TSDB")
    sub = parser.add_subparsers(dest="command", required=True)
    _common_flags(sub.add_parser("all", help="run every component in one process"))
    lc = sub.add_parser("local-cluster", help="run etcd, SeaweedFS and every service as processes on this machine")
    lc.add_argument("--config", metavar="FILE", help="cluster file (see examples/local-cluster/cluster.yaml)")
    lc.add_argument("--data-dir", metavar="DIR", help="where every process keeps its state (wiped at start)")
    lc.set_defaults(http_port=None, grpc_port=None, flight_port=None, log_level="info")
    for role, text in ROLE_HELP.items():
        p = sub.add_parser(role, help=text)
        _common_flags(p)
        p.add_argument("--instance-id", metavar="ID", help="this instance's ID in the ring (default: ROLE-HOSTNAME)")
    _common_flags(sub.add_parser("config", help="print the effective configuration"))
    cp = sub.add_parser("compact", help="run compaction over the bucket (retention, L0 → L1 → L2, deletions)")
    cp.add_argument("--config", metavar="FILE", help="YAML configuration file")
    cp.add_argument("--data-dir", metavar="DIR", help="local state: bucket (filesystem backend) and scratch space")
    cp.add_argument("--once", action="store_true", required=True, help="run one pass and exit")
    cp.add_argument("--tenant", action="append", metavar="T", help="only this tenant (repeatable; default: all)")
    cp.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    cp.set_defaults(http_port=None, grpc_port=None, flight_port=None)
    dp = sub.add_parser("duckdb", help="a DuckDB shell over one tenant's data in the bucket (views `samples` and "
                                       "`series`; not a security boundary)")
    dp.add_argument("--config", metavar="FILE", help="YAML configuration file")
    dp.add_argument("--data-dir", metavar="DIR", help="local state: bucket (filesystem backend)")
    dp.add_argument("--tenant", required=True, help="tenant ID")
    dp.add_argument("-c", dest="sql", metavar="SQL", help="run this statement, print its result and exit")
    dp.set_defaults(http_port=None, grpc_port=None, flight_port=None, log_level="warning")
    _explain_flags(sub.add_parser("explain", help="show the files, row groups and samples each selector of a "
                                                   "PromQL expression reads (from the bucket; the head is not read)"))
    return parser


def _explain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML configuration file")
    p.add_argument("--data-dir", metavar="DIR", help="local state: bucket (filesystem backend) and WAL")
    p.add_argument("--tenant", required=True, help="tenant ID (X-Scope-OrgID)")
    p.add_argument("--start", metavar="TIME", help="RFC 3339 or unix seconds (default: --end)")
    p.add_argument("--end", metavar="TIME", help="RFC 3339 or unix seconds (default: now)")
    p.add_argument("expr", metavar="EXPR", help="PromQL expression or series selector")
    p.set_defaults(http_port=None, grpc_port=None, flight_port=None, log_level="warning")


def _time_ms(value: str) -> int:
    """Unix seconds or RFC 3339, as Prometheus' API takes them."""
    try:
        return int(round(float(value) * 1000))
    except ValueError:
        pass
    d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if d.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return int(round(d.timestamp() * 1000))


def _explain(cfg: Config, args: argparse.Namespace) -> int:
    from promql import ParseError
    from tsdb.query.explain import explain
    from tsdb.services import Services
    from tsdb.tenancy import Tenant

    try:
        tenant = Tenant.parse(args.tenant)
        end = _time_ms(args.end) if args.end else int(time.time() * 1000)
        start = _time_ms(args.start) if args.start else end
    except ValueError as e:
        print(f"mytsdb explain: {e}", file=sys.stderr)
        return 2
    if end < start:
        print("mytsdb explain: --end is before --start", file=sys.stderr)
        return 2
    try:
        report = explain(Services.build(cfg), tenant, args.expr, start, end, read_head=False)
    except ParseError as e:
        print(f"mytsdb explain: {e}", file=sys.stderr)
        return 2
    print(report.format())
    return 0


def _compact(cfg: Config, args: argparse.Namespace) -> int:
    from tsdb.compactor import Compactor
    from tsdb.compactor.progress import TextProgress
    from tsdb.storage.bucket import open_bucket
    from tsdb.tenancy import Tenant, TenantError

    try:
        tenants = [Tenant.parse(t) for t in args.tenant] if args.tenant else None
    except TenantError as e:
        print(f"mytsdb compact: {e}", file=sys.stderr)
        return 2
    compactor = Compactor(cfg, open_bucket(cfg.storage))
    crash_at = os.environ.get("MYTSDB_COMPACTOR_CRASH_AT")  # crash-safety tests: kill -9 self after a step
    if crash_at:
        def crash(step: str) -> None:
            if step == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)
        compactor.runner.after_step = crash
    summary = compactor.run_once(tenants, progress=TextProgress())
    print(summary.text())
    return 1 if summary.failed else 0


def _duckdb(cfg: Config, args: argparse.Namespace) -> int:
    """`mytsdb duckdb`: `-c SQL` runs one statement, as the duckdb CLI does; without it, a
    small shell that runs each `;`-terminated statement."""
    import duckdb

    from tsdb.analytics import duckdb_connect
    from tsdb.tenancy import TenantError

    try:
        con = duckdb_connect(args.tenant, cfg)
    except TenantError as e:
        print(f"mytsdb: {e}", file=sys.stderr)
        return 2

    def run(sql: str) -> bool:
        try:
            rel = con.sql(sql)
        except duckdb.Error as e:
            print(f"Error: {e}", file=sys.stderr)
            return False
        if rel is not None:
            rel.show(max_rows=100, max_width=200)
        return True

    if args.sql is not None:
        return 0 if run(args.sql) else 1
    print(f"DuckDB {duckdb.__version__} over tenant {args.tenant}: tables samples, series. End statements with ';', "
          "Ctrl-C drops the statement being typed, Ctrl-D or .quit quits.")
    pending = ""
    while True:
        try:
            line = input("D " if not pending else "· ")
        except EOFError:
            return 0
        except KeyboardInterrupt:
            print()
            pending = ""
            continue
        if not pending and line.strip() in (".quit", ".exit"):
            return 0
        pending += line + "\n"
        if pending.rstrip().endswith(";"):
            run(pending)
            pending = ""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "local-cluster":
        from tsdb.localcluster.launcher import main as local_cluster
        return local_cluster(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = _load(args)
    except ConfigError as e:
        print(f"mytsdb: {e}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False), end="")
        return 0
    if args.command == "explain":
        return _explain(cfg, args)
    if args.command == "compact":
        return _compact(cfg, args)
    if args.command == "duckdb":
        return _duckdb(cfg, args)
    if args.command == "all":
        from tsdb.server import run_all
        return run_all(cfg)
    if args.command in ROLE_HELP:
        from tsdb.server import run_role
        return run_role(cfg, args.command, args.instance_id or f"{args.command}-{socket.gethostname()}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
