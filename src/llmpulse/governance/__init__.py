"""Data governance: per-project retention, erasure of a user's data, server-side redaction."""
