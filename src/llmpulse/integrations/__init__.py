"""Integrations with LLM frameworks; each imports its framework, so import them by name."""
