"""The playground page (its calls go through /v1/playground)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from llmpulse.meta.keys import ADMIN
from llmpulse.playground.routes import PLAYGROUND
from llmpulse.playground.service import MAX_RUN_CALLS, MIN_DELAY_S, Playground
from llmpulse.probe.prompts import BUNDLED
from llmpulse.web.layout import View, page_context, templates, view

router = APIRouter(include_in_schema=False)


@router.get("/playground", response_class=HTMLResponse)
async def playground_page(
    v: View = Depends(view), calls: Playground = Depends(PLAYGROUND)
) -> HTMLResponse:
    """Not through `render`: the playground works in an empty project too."""
    context = page_context(
        v,
        "Playground",
        endpoints=list(calls.endpoints),
        prompt_sets=list(BUNDLED),
        max_calls=MAX_RUN_CALLS,
        min_delay_s=MIN_DELAY_S,
        can_call=ADMIN in v.scopes,
    )
    return templates.TemplateResponse(v.request, "playground.html", context)
