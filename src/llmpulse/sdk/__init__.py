"""The LLMPulse SDK: records LLM calls and custom spans and sends them to a collector.

Light by design: importing it loads no server code, no chDB and no FastAPI, and the
client libraries it instruments are imported only when instrumented.
"""

from llmpulse.sdk.client import flush, init, shutdown, stats
from llmpulse.sdk.context import context
from llmpulse.sdk.instruments import (
    instrument,
    instrument_anthropic,
    instrument_openai,
    uninstrument,
)
from llmpulse.sdk.logs import logging_handler
from llmpulse.sdk.scores import current_trace_id, score
from llmpulse.sdk.spans import observe

__all__ = [
    "context",
    "current_trace_id",
    "flush",
    "init",
    "instrument",
    "instrument_anthropic",
    "instrument_openai",
    "logging_handler",
    "observe",
    "score",
    "shutdown",
    "stats",
    "uninstrument",
]
