"""The `xorb alerts follow` agent: tails alert files, keeps offsets, ships NDJSON with backoff."""
