"""Arrow Flight services and clients: the storage query service (ingesters, store gateways) and Flight SQL. Filled by the scale-out and analytics milestones."""
