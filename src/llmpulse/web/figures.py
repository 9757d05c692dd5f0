"""Plotly figures as plain dicts (the JSON Plotly.js draws): fast to build per request.

Colours and fonts come from the page's CSS variables (see app.js), so light and dark
themes need no second figure.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

Figure = dict[str, Any]
Series = dict[str, list[tuple[str, float | None]]]  # name -> [(iso time, value)]

LAYOUT: dict[str, Any] = {
    "margin": {"l": 48, "r": 12, "t": 8, "b": 36},
    "legend": {"orientation": "h", "y": -0.2},
    "hovermode": "x unified",
    "autosize": True,
    "height": 280,
}
DASHES = {"p50": "solid", "p95": "dash", "p99": "dot"}


def _layout(y_title: str, **extra: Any) -> dict[str, Any]:
    return {**LAYOUT, "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"}, **extra}


PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948",
           "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip


def lines(series: Series, y_title: str, dashes: dict[str, str] | None = None) -> Figure:
    """One line per series. With `dashes`, names are 'group level' (e.g. 'gpt-4o p95'):
    a group keeps one colour and one legend entry, each level gets its dash."""
    traces = []
    colours: dict[str, str] = {}
    for name, points in series.items():
        group, _, level = name.rpartition(" ") if dashes else (name, "", "")
        colour = colours.setdefault(group, PALETTE[len(colours) % len(PALETTE)])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": group if dashes else name,
                "legendgroup": group,
                "showlegend": not dashes or level == next(iter(dashes)),
                "x": [t for t, _ in points],
                "y": [v for _, v in points],
                "line": {"dash": (dashes or {}).get(level, "solid"), "width": 1.6, "color": colour},
                "hovertemplate": f"{name}: %{{y:.4~g}}<extra></extra>",
                "connectgaps": False,
            }
        )
    return {"data": traces, "layout": _layout(y_title)}


# Colours that carry a meaning of their own: sentiment labels, log levels.
MEANINGS: dict[str, str] = {
    "positive": "#59a14f", "neutral": "#bab0ac", "negative": "#e15759",
    "DEBUG": "#bab0ac", "INFO": "#4e79a7", "WARNING": "#f28e2b", "ERROR": "#e15759",
    "CRITICAL": "#9c1c1c",
}  # fmt: skip


def stacked_bars(series: Series, y_title: str) -> Figure:
    """One bar trace per series, stacked; a series named by MEANINGS takes its colour."""
    traces = []
    for name, pts in series.items():
        trace: dict[str, Any] = {
            "type": "bar", "name": name, "x": [t for t, _ in pts], "y": [v for _, v in pts],
        }  # fmt: skip
        if name in MEANINGS:
            trace["marker"] = {"color": MEANINGS[name]}
        traces.append(trace)
    return {"data": traces, "layout": _layout(y_title, barmode="stack")}


def forecast(history: Sequence[tuple[str, float]], days: Sequence[dict[str, Any]]) -> Figure:
    """Spend per day, then the forecast's line inside its 95% and 80% bands."""
    x = [d["day"] for d in days]

    def band(level: str, colour: str) -> list[dict[str, Any]]:
        low = {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": [d[level][0] for d in days],
            "line": {"width": 0},
            "showlegend": False,
            "hoverinfo": "skip",
        }
        high = {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": [d[level][1] for d in days],
            "fill": "tonexty",
            "fillcolor": colour,
            "line": {"width": 0},
            "name": f"{level[2:]}% interval",
            "hoverinfo": "skip",
        }
        return [low, high]  # fmt: skip

    traces = [
        *band("ci95", "rgba(78,121,167,0.15)"),
        *band("ci80", "rgba(78,121,167,0.3)"),
        {"type": "scatter", "mode": "lines", "name": "forecast", "x": x,
         "y": [d["spend"] for d in days], "line": {"dash": "dash", "color": PALETTE[0]}},
        {"type": "bar", "name": "spend", "x": [t for t, _ in history],
         "y": [v for _, v in history], "marker": {"color": PALETTE[1]}},
    ]  # fmt: skip
    return {"data": traces, "layout": _layout("USD per day")}


def bars(labels: Sequence[str], values: Sequence[float | None], y_title: str) -> Figure:
    trace = {"type": "bar", "x": list(labels), "y": list(values), "name": y_title}
    return {"data": [trace], "layout": _layout(y_title, hovermode="closest", showlegend=False)}


def histograms(
    edges: Sequence[float], counts: dict[str, list[int]], x_title: str = "latency ms"
) -> Figure:
    """Share of calls per bin (log-spaced), one outline per model (or variant); bins empty
    for every one at either end are left out."""
    used = [i for i in range(len(edges) - 1) if any(v[i] for v in counts.values())]
    first, last = (used[0], used[-1] + 1) if used else (0, 0)
    centers = [(a * b) ** 0.5 for a, b in itertools.pairwise(edges[first : last + 1])]
    traces = []
    for name, all_values in counts.items():
        values = all_values[first:last]
        total = sum(values) or 1
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hvh"},
                "name": name,
                "x": centers,
                "y": [v / total for v in values],
            }
        )
    layout = _layout("share of calls", hovermode="closest")
    layout["xaxis"] = {"type": "log", "title": {"text": x_title}}
    return {"data": traces, "layout": layout}


def sparkline(distribution: dict[str, list[Any]]) -> Figure:
    """Two sides' shares, reference and current, as a tiny bar chart for a table row."""
    labels = distribution.get("categories") or [
        f"{a:.4g}" for a, _ in itertools.pairwise(distribution["edges"])
    ]
    labels = ["(none)" if label is None else str(label) for label in labels]
    traces = [
        {"type": "bar", "name": side, "x": labels, "y": distribution[side],
         "marker": {"color": colour}, "hovertemplate": f"{side} %{{x}}: %{{y:.1%}}<extra></extra>"}
        for side, colour in (("reference", PALETTE[9]), ("current", PALETTE[0]))
    ]  # fmt: skip
    layout = {"margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "height": 36, "width": 160,
              "showlegend": False, "barmode": "group", "bargap": 0.05,
              "xaxis": {"visible": False}, "yaxis": {"visible": False}}  # fmt: skip
    return {"data": traces, "layout": layout}


def intervals(rows: Sequence[tuple[str, str, float, float, float]], tolerance: float) -> Figure:
    """(metric, variant, change, low, high) as a point with its CI bar per metric, one
    colour per variant; lines at no change and at the guardrails' tolerance."""
    traces = []
    for variant in dict.fromkeys(r[1] for r in rows):
        mine = [r for r in rows if r[1] == variant]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": variant,
                "x": [r[2] for r in mine],
                "y": [r[0] for r in mine],
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [r[4] - r[2] for r in mine],
                    "arrayminus": [r[2] - r[3] for r in mine],
                },
                "hovertemplate": "%{y}: %{x:+.1%}<extra>" + variant + "</extra>",
            }
        )
    lines_at = [
        {"type": "line", "x0": x, "x1": x, "yref": "paper", "y0": 0, "y1": 1,
         "line": {"dash": "solid" if x == 0 else "dot", "width": 1, "color": "#888"}}
        for x in (0.0, -tolerance, tolerance)
    ]  # fmt: skip
    layout = _layout("", hovermode="closest", shapes=lines_at)
    layout["xaxis"] = {"title": {"text": "change vs control"}, "tickformat": "+.0%"}
    layout["yaxis"] = {"automargin": True}
    layout["height"] = 60 + 28 * len({r[0] for r in rows})
    return {"data": traces, "layout": layout}


def heatmap(
    columns: Sequence[str], rows: Sequence[str], values: Sequence[Sequence[float | None]]
) -> Figure:
    """A share (0..1) per cell, e.g. a cohort (row) still active k periods on (column)."""
    trace = {
        "type": "heatmap",
        "x": list(columns),
        "y": list(rows),
        "z": [list(r) for r in values],
        "zmin": 0,
        "zmax": 1,
        "colorscale": "Blues",
        "hovertemplate": "%{y} +%{x}: %{z:.1%}<extra></extra>",
        "colorbar": {"tickformat": ".0%"},
    }
    layout = _layout("", hovermode="closest")
    layout["yaxis"] = {"autorange": "reversed", "type": "category", "automargin": True}
    layout["xaxis"] = {"type": "category", "title": {"text": "periods after the first"}}
    layout["height"] = max(280, 60 + 16 * len(rows))
    return {"data": [trace], "layout": layout}


def scatter(points: dict[str, Iterable[Sequence[Any]]]) -> Figure:
    """(tokens, latency, status) points; errors drawn as crosses."""
    traces = []
    for name, rows in points.items():
        rows = list(rows)
        for status, symbol in (("ok", "circle"), ("error", "x")):
            chosen = [r for r in rows if r[2] == status]
            if chosen:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": f"{name} {status}",
                        "x": [r[0] for r in chosen],
                        "y": [r[1] for r in chosen],
                        "marker": {"size": 5, "symbol": symbol, "opacity": 0.6},
                    }
                )
    layout = _layout("latency ms", hovermode="closest")
    layout["xaxis"] = {"title": {"text": "tokens (in + out)"}, "type": "log"}
    layout["yaxis"]["type"] = "log"
    return {"data": traces, "layout": layout}


def timeline(calls: Sequence[dict[str, Any]]) -> Figure:
    """A session's calls as bars from start to end, one row per call."""
    labels = [f"{i + 1}. {c['model_id']}" for i, c in enumerate(calls)]
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": labels,
        "x": [c["latency_ms"] for c in calls],
        "base": [c["ts"] for c in calls],
        "marker": {"color": ["#d9534f" if c["status"] == "error" else "#4e79a7" for c in calls]},
        "hovertext": [f"{c['latency_ms']:.0f} ms, {c['status']}" for c in calls],
    }
    layout = _layout("", hovermode="closest", showlegend=False)
    layout["xaxis"] = {"type": "date"}
    layout["yaxis"] = {"autorange": "reversed"}
    layout["height"] = max(200, 26 * len(calls) + 60)
    return {"data": [trace], "layout": layout}
