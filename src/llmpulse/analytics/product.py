"""Product analytics over the calls' users, sessions and features: retention cohorts,
funnels, sessions and churn, feature adoption. Everything is counted in ClickHouse; Python
only shapes the answer. A user is a `user_id` (calls without one are not counted)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Final, Literal

from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.query import durations
from llmpulse.query.filters import EARLIEST, QueryError, Scope
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

Period = Literal["day", "week"]
PERIOD_DAYS: Final = {"day": 1, "week": 7}
RETENTION_DAYS: Final = (1, 7, 30)
MAX_STEPS: Final = 8
MAX_WINDOW_S: Final = 90 * 86400
GAP_SAMPLE_CALLS: Final = 1_000_000  # the calls' worth of users the median times cover
PER_MILLION: Final = 1_000_000


def _start_of(period: Period, column: str = "ts") -> str:
    """The period's first day, as a Date (weeks start on Monday)."""
    return f"toDate({column})" if period == "day" else f"toMonday({column})"


def _day(value: date | datetime | str) -> str:
    """ISO date (the store answers Dates as text, Python gives dates)."""
    return value[:10] if isinstance(value, str) else value.isoformat()[:10]


def _segment(group_by: str | None) -> str:
    """The SQL of a user's segment: the dimension's value on their first call."""
    if group_by is None:
        return "''"
    if group_by == "experiment":
        return "argMin(concat(experiment_name, ':', experiment_variant), ts)"
    if group_by not in DIMENSIONS:
        known = ", ".join(("experiment", *DIMENSIONS))
        raise QueryError("group_by", f"unknown dimension {group_by!r}; one of: {known}")
    return f"argMin({group_by}, ts)"


# -- retention ----------------------------------------------------------------------------------


def retention(
    engine: Engine, scope: Scope, period: Period, group_by: str | None = None
) -> dict[str, Any]:
    """Cohorts of users by the period of their first call (ever, under the filters): how
    many were active again k periods later; and D1/D7/D30 (active on exactly that day
    after their first), each over the users old enough to have had it."""
    _, params = scope.where()  # its start: the cohorts begin there
    ever, ever_params = replace(scope, start=EARLIEST).where(prefix="ever_")
    params.update(ever_params)
    params["end_day"] = _day(scope.end)
    params["width"] = PERIOD_DAYS[period]
    flags = ", ".join(
        f"has(days, toDate(first_ts) + {n}) AS d{n}, "
        f"toDate(first_ts) + {n} < toDate({{end_day:String}}) AS old{n}"
        for n in RETENTION_DAYS
    )
    sums = ", ".join(
        f"sum(d{n} AND old{n}) AS back{n}, sum(old{n}) AS eligible{n}" for n in RETENTION_DAYS
    )
    # One pass over the users: each one's first call ever, cohort, segment and the days
    # of the range they were active; then per cohort, how many came back k periods later.
    rows = engine.rows(
        f"""
        SELECT segment, cohort, sumMap(ks, arrayResize([toUInt64(1)], length(ks), 1)) AS by_k,
            {sums}
        FROM (
            SELECT user_id, min(ts) AS first_ts, {_start_of(period, "first_ts")} AS cohort,
                {_segment(group_by)} AS segment,
                groupUniqArrayIf(toDate(ts), ts >= {{start:DateTime64(3, 'UTC')}}) AS days,
                arrayDistinct(arrayMap(
                    d -> intDiv(dateDiff('day', cohort, {_start_of(period, "d")}), {{width:UInt8}}),
                    days)) AS ks,
                {flags}
            FROM {EVENTS} WHERE {ever} AND user_id != '' GROUP BY user_id
            HAVING first_ts >= {{start:DateTime64(3, 'UTC')}})
        GROUP BY segment, cohort
        """,
        params,
    )
    cells = [
        {"segment": r["segment"], "cohort": r["cohort"], "k": k, "users": n}
        for r in rows
        for k, n in zip(*r["by_k"], strict=True)
    ]
    return _cohorts(cells, rows, scope, period, group_by)


def _cohorts(
    cells: list[dict[str, Any]],
    days_back: list[dict[str, Any]],
    scope: Scope,
    period: Period,
    group_by: str | None,
) -> dict[str, Any]:
    by_cohort: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for c in cells:
        by_cohort[(c["segment"], _day(c["cohort"]))][int(c["k"])] = int(c["users"])
    back = {(r["segment"], _day(r["cohort"])): r for r in days_back}
    last = scope.end.date()
    width = PERIOD_DAYS[period]
    cohorts = []
    for (segment, cohort), counts in sorted(by_cohort.items()):
        size = counts.get(0, 0)
        # Only the periods that have begun by the end of the range: a triangle.
        seen = (last - date.fromisoformat(cohort)).days // width + 1
        retained = [counts.get(k, 0) for k in range(seen)]
        entry: dict[str, Any] = {"cohort": cohort, "users": size, "retained": retained}
        entry["rates"] = [n / size if size else None for n in retained]
        row = back.get((segment, cohort), {})
        for n in RETENTION_DAYS:
            eligible = int(row.get(f"eligible{n}", 0))
            entry[f"d{n}"] = int(row[f"back{n}"]) / eligible if eligible else None
        if group_by is not None:
            entry["segment"] = segment
        cohorts.append(entry)
    return {
        "period": period,
        "group_by": group_by,
        "cohorts": cohorts,
        "average": _average(cohorts),
    }


def _average(cohorts: list[dict[str, Any]]) -> list[float | None]:
    """Per k, the share retained over every cohort that has reached k (user-weighted)."""
    longest = max((len(c["retained"]) for c in cohorts), default=0)
    average: list[float | None] = []
    for k in range(longest):
        reached = [c for c in cohorts if len(c["retained"]) > k]
        users = sum(c["users"] for c in reached)
        average.append(sum(c["retained"][k] for c in reached) / users if users else None)
    return average


# -- funnels ------------------------------------------------------------------------------------


def parse_steps(value: str) -> list[tuple[str, str]]:
    """`feature:search,feature:summarize` as [(dimension, value), ...]."""
    steps = []
    for part in (p.strip() for p in value.split(",")):
        field, sep, wanted = part.partition(":")
        if not sep or not field or not wanted:
            raise QueryError("steps", f"{part!r} is not a step: write FIELD:VALUE", 422)
        if field not in DIMENSIONS:
            known = ", ".join(DIMENSIONS)
            raise QueryError("steps", f"unknown field {field!r} in {part!r}; one of: {known}", 422)
        steps.append((field, wanted))
    if not 2 <= len(steps) <= MAX_STEPS:
        raise QueryError("steps", f"give 2 to {MAX_STEPS} steps, comma-separated", 422)
    return steps


def parse_window(value: str) -> int:
    """The funnel's window, like `30m`, `1h` or `7d`, in seconds: 1 s to 90 days."""
    try:
        window_s = durations.seconds(value)
    except ValueError as exc:
        raise QueryError("window", str(exc)) from None
    if not 1 <= window_s <= MAX_WINDOW_S:
        raise QueryError("window", "must be from 1s to 90d", 422)
    return window_s


def funnel(
    engine: Engine, scope: Scope, steps: list[tuple[str, str]], window_s: int
) -> dict[str, Any]:
    """Users reaching each step in order within `window_s` of their first step (ClickHouse's
    windowFunnel), and the median time from each step to the next (from a user's first
    occurrence of the step to their first of the next after it)."""
    where, params = scope.where()
    conditions = []
    for i, (field, wanted) in enumerate(steps):
        params[f"step{i}"] = wanted
        conditions.append(f"{field} = {{step{i}:String}}")
    params["window"] = window_s * 1000  # over milliseconds: calls a second apart stay in order
    # The median times need each user's step times: above GAP_SAMPLE_CALLS calls they are
    # taken over a share of the users (by a hash of the id, the same users every time), a
    # third of the query's time; the counts always cover every user.
    [total] = engine.rows(f"SELECT count() AS n FROM {EVENTS} WHERE {where}", params)
    keep = round(min(1.0, GAP_SAMPLE_CALLS / max(1, int(total["n"]))) * PER_MILLION)
    params["keep"] = keep
    timed = f"cityHash64(user_id) % {PER_MILLION} < {{keep:UInt32}}"
    ms = "toUInt64(toUnixTimestamp64Milli(ts))"
    # Each step's times, unsorted: the first at or after the previous step's is a min.
    arrays = ", ".join(
        f"groupArrayIf(toUnixTimestamp64Milli(ts), {c} AND {timed}) AS s{i}"
        for i, c in enumerate(conditions)
    )
    times = ["arrayMin(s0) AS t0"] + [
        f"if(t{i - 1} = 0, 0, arrayMin(arrayFilter(x -> x >= t{i - 1}, s{i}))) AS t{i}"
        for i in range(1, len(steps))
    ]
    reached = ", ".join(f"countIf(level >= {i + 1}) AS reached{i}" for i in range(len(steps)))
    gaps = ", ".join(
        f"quantileExactInclusiveIf(0.5)((t{i} - t{i - 1}) / 1000, level >= {i + 1} AND t{i} > 0) "
        f"AS gap{i}"
        for i in range(1, len(steps))
    )
    row = engine.rows(
        f"""
        SELECT {reached}, {gaps} FROM (
            SELECT cityHash64(user_id) AS user_hash,
                windowFunnel({{window:UInt64}})({ms}, {", ".join(conditions)}) AS level,
                {arrays}, {", ".join(times)}
            FROM {EVENTS} WHERE {where} AND user_id != '' AND ({" OR ".join(conditions)})
            GROUP BY user_hash)
        """,
        params,
    )[0]
    first = int(row["reached0"])
    out = []
    for i, (field, wanted) in enumerate(steps):
        users = int(row[f"reached{i}"])
        previous = int(row[f"reached{i - 1}"]) if i else users
        out.append(
            {
                "step": f"{field}:{wanted}",
                "users": users,
                "conversion": users / first if first else None,
                "from_previous": users / previous if previous else None,
                "median_s_from_previous": _number(row.get(f"gap{i}")) if i else None,
            }
        )
    return {"window_s": window_s, "steps": out, "median_users_share": keep / PER_MILLION}


def features_in_order(engine: Engine, scope: Scope, most: int = 4) -> list[str]:
    """The `most` features in the most sessions, in the order sessions first reach them
    (by their mean rank among the session's features): the default funnel."""
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT f AS feature, count() AS sessions, avg(rank) AS mean_rank
        FROM (
            SELECT arrayMap(x -> x.2, arraySort(groupArray((first, feature)))) AS fs
            FROM (SELECT session_id, feature, min(ts) AS first FROM {EVENTS}
                  WHERE {where} AND session_id != '' AND feature != ''
                  GROUP BY session_id, feature)
            GROUP BY session_id)
        ARRAY JOIN fs AS f, arrayEnumerate(fs) AS rank
        GROUP BY f ORDER BY sessions DESC, f LIMIT {int(most)}
        """,
        params,
    )
    return [r["feature"] for r in sorted(rows, key=lambda r: (r["mean_rank"], r["feature"]))]


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # nan: no user got there


# -- sessions and churn -------------------------------------------------------------------------


def sessions(
    engine: Engine, scope: Scope, period: Period, group_by: str | None = None
) -> dict[str, Any]:
    """Per period (of a session's first call): sessions, their length in calls and minutes
    (median, p90), calls per session, the share with an error; active, new, returning and
    churned users (active the period before, not this one), per segment with group_by."""
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT p, count() AS sessions,
            quantileExactInclusive(0.5)(n) AS median_calls,
            quantileExactInclusive(0.9)(n) AS p90_calls,
            quantileExactInclusive(0.5)(minutes) AS median_minutes,
            quantileExactInclusive(0.9)(minutes) AS p90_minutes,
            avg(n) AS calls_per_session,
            avg(errored) AS error_share
        FROM (SELECT cityHash64(session_id) AS session, {_start_of(period, "min(ts)")} AS p,
                count() AS n, dateDiff('millisecond', min(ts), max(ts)) / 60000 AS minutes,
                max(status = 'error') AS errored
              FROM {EVENTS} WHERE {where} AND session_id != '' GROUP BY session)
        GROUP BY p ORDER BY p
        """,
        params,
    )
    periods = {_day(r["p"]): {k: v for k, v in r.items() if k != "p"} for r in rows}
    last = _day(_period_of(scope.end.date(), period))
    for r in _users_by_period(engine, scope, period):
        p = _day(r["p"])
        if p > last:  # churn in a period after the range
            continue
        entry = periods.setdefault(p, {})
        entry.update(
            active_users=r["active"],
            new_users=r["new_users"],
            returning_users=r["active"] - r["new_users"],
        )
        if r["previously_active"]:
            entry.update(churned_users=r["churned"], previously_active=r["previously_active"])
    answer: dict[str, Any] = {
        "period": period,
        "periods": [{"t": p, **_complete(v)} for p, v in sorted(periods.items())],
    }
    if group_by is not None:
        by_segment: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (segment, p), (churned, before) in sorted(
            _churn(engine, scope, period, group_by).items()
        ):
            by_segment[segment].append(
                {"t": p, "churned_users": churned, "previously_active": before,
                 "churn_rate": churned / before if before else None}
            )  # fmt: skip
        answer["group_by"] = group_by
        answer["segments"] = [{"segment": s, "periods": v} for s, v in sorted(by_segment.items())]
    return answer


_PERIOD_FIELDS: Final = (
    "sessions", "median_calls", "p90_calls", "median_minutes", "p90_minutes",
    "calls_per_session", "error_share", "active_users", "new_users", "returning_users",
    "churned_users", "previously_active",
)  # fmt: skip


def _users_by_period(engine: Engine, scope: Scope, period: Period) -> list[dict[str, Any]]:
    """Per period: users active, new (first call ever), and of those active the period
    before, how many are not active in it (churned); one pass over the users."""
    _, params = scope.where()  # its start: where the range's activity begins
    ever, ever_params = replace(scope, start=EARLIEST).where(prefix="ever_")
    params.update(ever_params)
    params["width"] = PERIOD_DAYS[period]
    following = "x + {width:UInt8}"
    return engine.rows(
        f"""
        SELECT cell.1 AS p, sum(cell.2) AS active, sum(cell.3) AS new_users,
            sum(cell.4) AS previously_active, sum(cell.5) AS churned
        FROM (SELECT {_start_of(period, "min(ts)")} AS first,
                groupUniqArrayIf({_start_of(period)}, ts >= {{start:DateTime64(3, 'UTC')}}) AS ps
              FROM {EVENTS} WHERE {ever} AND user_id != '' GROUP BY cityHash64(user_id))
        ARRAY JOIN arrayConcat(
            arrayMap(x -> (x, 1, toUInt8(x = first), 0, 0), ps),
            arrayMap(x -> ({following}, 0, 0, 1, toUInt8(NOT has(ps, {following}))), ps)
        ) AS cell
        GROUP BY p
        """,
        params,
    )


def _complete(entry: dict[str, Any]) -> dict[str, Any]:
    counts = ("sessions", "active_users", "new_users", "returning_users", "churned_users")
    return {k: entry.get(k, 0 if k in counts else None) for k in _PERIOD_FIELDS}


def _churn(
    engine: Engine, scope: Scope, period: Period, group_by: str | None
) -> dict[tuple[str, str], tuple[int, int]]:
    """(segment, period) -> (users churned in it, users active in the period before)."""
    where, params = scope.where()
    params["width"] = PERIOD_DAYS[period]
    rows = engine.rows(
        f"""
        SELECT segment, p + {{width:UInt8}} AS churn_p, count() AS before,
            countIf(NOT has(ps, churn_p)) AS churned
        FROM (SELECT user_id, groupUniqArray({_start_of(period)}) AS ps,
                {_segment(group_by)} AS segment
              FROM {EVENTS} WHERE {where} AND user_id != '' GROUP BY user_id)
        ARRAY JOIN ps AS p
        GROUP BY segment, churn_p
        """,
        params,
    )
    last = _day(_period_of(scope.end.date(), period))
    return {
        (r["segment"], _day(r["churn_p"])): (int(r["churned"]), int(r["before"]))
        for r in rows
        if _day(r["churn_p"]) <= last
    }


def _period_of(day: date, period: Period) -> date:
    return day if period == "day" else date.fromordinal(day.toordinal() - day.weekday())


# -- feature adoption ---------------------------------------------------------------------------


def adoption(engine: Engine, scope: Scope, period: Period) -> dict[str, Any]:
    """Per feature and period: calls, users, and of those the new ones (first use of the
    feature ever, under the filters) and the returning ones."""
    where, params = scope.where()
    ever, ever_params = replace(scope, start=EARLIEST).where(prefix="ever_")
    params.update(ever_params)
    rows = engine.rows(
        f"""
        SELECT feature, p, sum(calls) AS calls, count() AS users, countIf(p = first) AS new_users
        FROM (SELECT feature, user_id, {_start_of(period)} AS p, count() AS calls FROM {EVENTS}
              WHERE {where} AND feature != '' AND user_id != '' GROUP BY feature, user_id, p) AS a
        INNER JOIN (SELECT feature, user_id, {_start_of(period, "min(ts)")} AS first
                    FROM {EVENTS} WHERE {ever} AND feature != '' AND user_id != ''
                    GROUP BY feature, user_id) AS f USING (feature, user_id)
        GROUP BY feature, p ORDER BY feature, p
        """,
        params,
    )
    features: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        features[r["feature"]].append(
            {"t": _day(r["p"]), "calls": r["calls"], "users": r["users"],
             "new_users": r["new_users"], "returning_users": r["users"] - r["new_users"]}
        )  # fmt: skip
    return {
        "period": period,
        "features": [{"feature": f, "periods": v} for f, v in sorted(features.items())],
    }
