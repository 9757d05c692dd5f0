"""A project's dated price overrides: saved in the store's documents, kept current in the
ingest pipeline's PriceRegistry (new calls are priced by them at once)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from llmpulse.pricing.dated import PriceOverride, PriceRegistry
from llmpulse.pricing.prices import PriceBook, Rates
from llmpulse.query.filters import iso_ms
from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

KIND: Final = "price_override"
PerMillion = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


class OverrideBody(BaseModel):
    """A price for a model from a date on, in USD per million tokens."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    model: str = Field(min_length=1, max_length=256, description="model_id or a glob (gpt-4o*)")
    input: PerMillion
    output: PerMillion
    cached: PerMillion | None = Field(None, description="default: the input price")
    reasoning: PerMillion | None = Field(None, description="default: the output price")
    valid_from: datetime | None = Field(
        None, alias="from", description="ISO 8601; default: all history"
    )

    def override(self) -> PriceOverride:
        from_ms = epoch_ms(self.valid_from) if self.valid_from else 0
        rates = Rates.per_million(self.input, self.output, self.cached, self.reasoning)
        return PriceOverride(f"{self.model}@{from_ms}", self.model, from_ms, rates)


def epoch_ms(t: datetime) -> int:
    """Milliseconds since the epoch; a time without a zone is UTC, as everywhere in the API."""
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)


def _documents(engine: Engine) -> Documents:
    return Documents(engine, KIND)


def _override(doc_id: str, body: dict[str, Any]) -> PriceOverride:
    rates = Rates(**body["rates"])
    return PriceOverride(doc_id, body["model"], body["valid_from_ms"], rates)


def described(o: PriceOverride) -> dict[str, Any]:
    r = o.rates
    return {
        "id": o.id,
        "model": o.pattern,
        "from": iso_ms(o.valid_from_ms) if o.valid_from_ms else None,
        "input": r.input * 1e6,
        "output": r.output * 1e6,
        "cached": r.cached * 1e6,
        "reasoning": r.reasoning * 1e6,
    }


def listed(engine: Engine, project: str) -> list[PriceOverride]:
    return [_override(d.id, d.body) for d in _documents(engine).list(project)]


def load_all(engine: Engine, registry: PriceRegistry) -> None:
    """At start: every project's overrides into the registry."""
    by_project: dict[str, list[PriceOverride]] = {}
    for d in _documents(engine).list():
        by_project.setdefault(d.project, []).append(_override(d.id, d.body))
    for project, found in by_project.items():
        registry.set(project, found)


def save(
    engine: Engine, registry: PriceRegistry, book: PriceBook, project: str, body: OverrideBody
) -> tuple[PriceOverride, list[str]]:
    """Keep the override and price new calls by it; warnings say what looks wrong but is
    allowed (a model neither priced by the catalogue nor seen in the project's calls)."""
    o = body.override()
    doc = {"model": o.pattern, "valid_from_ms": o.valid_from_ms, "rates": vars(o.rates)}
    _documents(engine).put(project, o.id, doc)
    registry.set(project, listed(engine, project))
    warnings = []
    if book.schedule(o.pattern, None).source == "unpriced" and not _seen(engine, project, o):
        warnings.append(
            f"model {o.pattern!r} is not in the price catalogue and no call of this project "
            "matches it yet; the price applies to its calls when they arrive"
        )
    return o, warnings


def delete(engine: Engine, registry: PriceRegistry, project: str, doc_id: str) -> bool:
    if not _documents(engine).delete(project, doc_id):
        return False
    registry.set(project, listed(engine, project))
    return True


def _seen(engine: Engine, project: str, o: PriceOverride) -> bool:
    models = engine.rows(
        f"SELECT DISTINCT model_id FROM {EVENTS} WHERE project = {{p:String}}", {"p": project}
    )
    return any(o.matches(r["model_id"]) for r in models)
