"""The lake: the store's data as Parquet in a medallion layout (bronze, silver, gold) on a
local folder or S3-compatible object storage, exported incrementally and exactly once,
verified against its manifests and the store, and loaded back by backfill."""
