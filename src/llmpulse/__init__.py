"""LLMPulse: LLM telemetry and analytics."""

__version__ = "0.1.0"
