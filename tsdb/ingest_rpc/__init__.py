"""`IngestService.Push`: the gRPC hop from distributors to ingesters (DESIGN §6)."""
