"""`mytsdb local-cluster`: a real cluster on one machine, as separate processes."""
