"""JSON bodies checked against a pydantic model: a bad one is an error naming every field
at fault and the reason (the API's error body, api/errors.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from pydantic import BaseModel, ValidationError

from llmpulse.api.errors import ApiError

Json = Annotated[dict[str, Any], Body()]  # a JSON object body, checked by `checked`


class Problem(ValueError):
    """A check across fields, naming the field to blame (pydantic puts it on the model)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def checked(model: type[BaseModel], body: Any, status: int = 422, prefix: str = "") -> Any:
    """`body` as `model`, or an error naming the field (after `prefix`) and the reason."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        detail = []
        for e in exc.errors(include_url=False):
            cause = e.get("ctx", {}).get("error")
            field = getattr(cause, "field", None) or ".".join(str(p) for p in e["loc"]) or "body"
            error = str(cause) if isinstance(cause, Problem) else e["msg"]
            detail.append({"field": prefix + field, "error": error.removeprefix("Value error, ")})
        summary = "; ".join(f"{d['field']}: {d['error']}" for d in detail)
        raise ApiError(status, f"invalid {model.__name__.lower()}: {summary}", detail) from None
