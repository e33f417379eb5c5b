"""The lakehouse contract: bucket paths, column naming, and the Parquet files themselves."""
