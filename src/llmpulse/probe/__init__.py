"""Prompt probe: synthetic calls to an OpenAI-compatible endpoint (`llmpulse probe`)."""
