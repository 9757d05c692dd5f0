"""LLMPulse: LLM telemetry and analytics.

`import llmpulse` is the SDK (see docs/instrumentation.md)::

    import llmpulse
    llmpulse.init(endpoint="http://127.0.0.1:8000", api_key="lp_...")
    llmpulse.instrument()
"""

from llmpulse.sdk import (
    context,
    current_trace_id,
    flush,
    init,
    instrument,
    instrument_anthropic,
    instrument_openai,
    logging_handler,
    observe,
    score,
    shutdown,
    stats,
    uninstrument,
)
from llmpulse.sdk.reader import Client

__version__ = "0.1.0"
__all__ = [
    "Client",
    "__version__",
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
