"""The dashboard's playground: prompts to the LLM endpoints the operator configured with
`--llm`, streamed back and recorded as events, and auto-stream runs of a prompt set."""
