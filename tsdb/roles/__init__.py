"""The services of distributed mode, one per process: each a thin server around the
same library objects that `all` mode calls in-process."""
from __future__ import annotations

ROLES = ("distributor", "ingester", "store-gateway", "querier", "compactor")


def build_role(name: str, cfg, instance_id: str):
    """The role object for `mytsdb <name>`."""
    if name == "distributor":
        from tsdb.roles.distributor import DistributorRole as cls
    elif name == "ingester":
        from tsdb.roles.ingester import IngesterRole as cls
    elif name == "store-gateway":
        from tsdb.roles.storegateway import StoreGatewayRole as cls
    elif name == "querier":
        from tsdb.roles.querier import QuerierRole as cls
    elif name == "compactor":
        from tsdb.roles.compactor import CompactorRole as cls
    else:
        raise ValueError(f"unknown role {name!r}; expected one of {', '.join(ROLES)}")
    return cls(cfg, instance_id)
