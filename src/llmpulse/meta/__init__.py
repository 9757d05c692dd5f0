"""Control-plane state: projects, API keys and their scopes (SQLite beside the data)."""
