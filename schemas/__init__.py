"""Wire schemas (protobuf) shared by the services."""
