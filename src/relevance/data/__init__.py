"""The data wing: reading the competition files (io), validating and cleaning them into
Parquet (ingest), their statistics (stats) and cross-validation folds (split)."""
