"""The governance API: a project's retention, a user's erasure, server-side redaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Admin, Reader
from llmpulse.api.bodies import Json, checked
from llmpulse.api.errors import ApiError, error_responses
from llmpulse.api.services import Service
from llmpulse.events.redaction import RedactionRegistry
from llmpulse.governance import erasure, redaction, retention
from llmpulse.store.engine import Engine


@dataclass(frozen=True)
class Governance:
    engine: Engine
    default_retention_days: int
    redactions: RedactionRegistry


GOVERNANCE: Service[Governance] = Service("governance")
Governed = Annotated[Governance, Depends(GOVERNANCE)]
router = APIRouter(prefix="/v1", tags=["governance"],
                   responses=error_responses(400, 401, 403, 404, 422))  # fmt: skip
ProjectName = Annotated[str, Path(description="the key's project")]
UserId = Annotated[str, Path(min_length=1, max_length=512)]


def _own(project: str, granted: str) -> None:
    """A key sees its own project only: another's is not found (not even whether it exists)."""
    if project != granted:
        raise ApiError(404, f"no project {project!r} for this key (its project is {granted!r})")


@router.get("/projects/{project}/retention", summary="How long the project's data is kept")
async def get_retention(project: ProjectName, g: Governed, reader: Reader) -> dict[str, Any]:
    _own(project, reader.project)
    periods = (await run_in_threadpool(retention.all_periods, g.engine)).get(project)
    return {"project": project, **retention.described(periods, g.default_retention_days)}


@router.put(
    "/projects/{project}/retention",
    summary="Keep the project's calls, rollups and dead letters for so many days (30d); "
    "applies to the data already stored",
)
async def put_retention(
    project: ProjectName, body: Json, g: Governed, admin: Admin
) -> dict[str, Any]:
    _own(project, admin.project)
    periods = checked(retention.RetentionBody, body).periods()
    await run_in_threadpool(retention.save, g.engine, project, periods, g.default_retention_days)
    return {"project": project, **retention.described(periods, g.default_retention_days)}


@router.get("/users/erasures", summary="The project's erasure receipts, newest first")
async def erasures(g: Governed, admin: Admin) -> dict[str, Any]:
    return {"erasures": await run_in_threadpool(erasure.recent, g.engine, admin.project)}


@router.delete(
    "/users/{user_id}",
    summary="Erase a user's calls, spans and scores from the store; returns a receipt",
)
async def erase_user(user_id: UserId, g: Governed, admin: Admin) -> dict[str, Any]:
    return await run_in_threadpool(erasure.erase, g.engine, admin.project, user_id)


@router.get(
    "/settings/redaction",
    summary="The project's server-side redaction rules, and redactions per rule in the "
    "last 24 hours' calls",
)
async def get_redaction(g: Governed, reader: Reader) -> dict[str, Any]:
    policy = g.redactions.get(reader.project)
    counted = await run_in_threadpool(redaction.counts, g.engine, reader.project)
    return {**redaction.described(policy), "redacted_last_24h": counted}


@router.put(
    "/settings/redaction",
    summary="Turn redaction rules on or off and set the project's own; applies to events "
    "received from now on",
)
async def put_redaction(body: Json, g: Governed, admin: Admin) -> dict[str, Any]:
    policy = checked(redaction.RedactionBody, body).policy()
    await run_in_threadpool(redaction.save, g.engine, g.redactions, admin.project, policy)
    return redaction.described(policy)
