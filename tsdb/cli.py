"""The `mytsdb` command.

    mytsdb all [--config FILE] [--data-dir DIR] [--http-port N] [--grpc-port N] [--flight-port N]
    mytsdb config [--config FILE]      print the effective configuration as YAML
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mytsdb", description="MyTSDB: a Prometheus-compatible lakehouse TSDB")
    sub = parser.add_subparsers(dest="command", required=True)
    _common_flags(sub.add_parser("all", help="run every component in one process"))
    _common_flags(sub.add_parser("config", help="print the effective configuration"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = _load(args)
    except ConfigError as e:
        print(f"mytsdb: {e}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False), end="")
        return 0
    if args.command == "all":
        from tsdb.server import run_all
        return run_all(cfg)
    return 1


if __name__ == "__main__":
    sys.exit(main())
