"""`mytsdb ingester`: WAL + head behind gRPC `IngestService.Push`, recent data over Flight.

Lifecycle, as Mimir's: join the ring JOINING, replay the WAL, then turn ACTIVE (the
distributors only write to ACTIVE ingesters, so nothing is written before the replay).
On SIGTERM: LEAVING (writes go to the other replicas), flush the heads to the bucket,
then leave the ring. Reads keep working until the end: the querier reads LEAVING
ingesters too.
"""
from __future__ import annotations

import time
from typing import Sequence

from flight.backend import LocalBackend
from flight.server import QueryFlightServer
from tsdb.api.app import AppParts
from tsdb.config import Config
from tsdb.ingest_rpc.server import IngestServicer, serve_ingest
from tsdb.layout.paths import file_created_ns
from tsdb.manifest import FileEntry, Manifest
from tsdb.ring import InstanceState
from tsdb.roles.base import Role
from tsdb.services import Services
from tsdb.tenancy import Tenant


class IngesterRole(Role):
    name = "ingester"
    ring = "ingester"

    def __init__(self, cfg: Config, instance_id: str) -> None:
        super().__init__(cfg, instance_id)
        self.services = Services.build(cfg, instance_id, metrics=self.metrics)
        self.ingester = self.services.ingester
        self.accepting = False
        self.grpc_server = None
        self.flight: QueryFlightServer | None = None

    def own_recent_files(self, tenant: Tenant, manifest: Manifest, after_seq: int | None = None
                         ) -> Sequence[FileEntry]:
        """The files this ingester flushed within `query_ingesters_within`: its flushed
        samples stay readable here while they move to the bucket. A querier that read
        manifest version `after_seq` gets those files from the store gateways, so only
        files committed after it are served here (the querier reads its manifest before it
        asks the ingesters, so a flush is always on one side or the other)."""
        horizon_ns = time.time_ns() - self.cfg.querier.query_ingesters_within * 1_000_000
        return [e for e in manifest.files
                if e.source == self.instance_id and (file_created_ns(e.path) or 0) >= horizon_ns
                and (after_seq is None or e.seq > after_seq)]

    def start_role(self) -> None:
        self.join_ring(InstanceState.JOINING)
        self.ingester.start()  # WAL replay
        self.grpc_server = serve_ingest(IngestServicer(self.ingester, self.metrics, lambda: self.accepting),
                                        self.grpc_address)
        backend = LocalBackend(self.services, read_head=True, file_scope=self.own_recent_files)
        self.flight = QueryFlightServer(self.flight_location, backend, registry=self.metrics.registry)
        self.flight.serve_in_thread()
        self.accepting = True
        self.lifecycler.set_state(InstanceState.ACTIVE)

    def stop_role(self) -> None:
        if self.lifecycler is not None and self.lifecycler.started:
            self.lifecycler.set_state(InstanceState.LEAVING)
        # Pushes already admitted finish (they are in the WAL); new ones are refused and
        # go to the other replicas.
        self.accepting = False
        if self.grpc_server is not None:
            self.grpc_server.stop(grace=5).wait()
        self.ingester.stop(flush=True)
        if self.flight is not None:
            self.flight.shutdown()

    def not_ready(self) -> str | None:
        return None if self.ingester.ready and self.accepting else "replaying the WAL"

    def parts(self) -> AppParts:
        return self.base_parts(ingester=self.ingester, update_gauges=self.ingester.update_gauges)
