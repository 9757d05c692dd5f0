"""The OpenAI/Anthropic-compatible recording proxy (`llmpulse proxy`)."""
