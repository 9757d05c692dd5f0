"""Reading stored calls back into Python: `llmpulse.Client(endpoint, key).events(...)`.

Calls come as an Arrow stream from `/v1/export/events`. pandas and pyarrow are imported
when used, so `import llmpulse` stays light (`pip install llmpulse[pandas]` brings them)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmpulse.events.taxonomy import DIMENSIONS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
# Low-cardinality text columns that become pandas categoricals.
CATEGORICAL = frozenset((*DIMENSIONS, "operation", "source", "cost_source", "language", "project"))


class ExportError(RuntimeError):
    """The server refused the export; the message is its error."""


def _bound(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class Client:
    """A read client for one project (the key's): `events()` as a DataFrame or Arrow."""

    def __init__(
        self, endpoint: str | None = None, api_key: str | None = None, timeout_s: float = 300
    ) -> None:
        self.endpoint = endpoint or os.environ.get("LLMPULSE_ENDPOINT") or DEFAULT_ENDPOINT
        self.endpoint = self.endpoint.rstrip("/")
        self._key = api_key or os.environ.get("LLMPULSE_API_KEY")
        self._timeout_s = timeout_s

    def events_arrow(
        self,
        from_: str | datetime | None = "-24h",
        to: str | datetime | None = None,
        columns: list[str] | None = None,
        **filters: str | list[str],
    ) -> pa.Table:
        """The calls in [from_, to) matching the dimension filters (model_id="gpt-4o",
        status=["error"]), as an Arrow table; times are ISO 8601 or relative (-7d)."""
        import httpx
        import pyarrow as pa

        params: list[tuple[str, Any]] = [("format", "arrow")]
        params += [(k, v) for k, v in (("from", _bound(from_)), ("to", _bound(to))) if v]
        if columns:
            params.append(("columns", ",".join(columns)))
        for name, value in filters.items():
            params += [(name, v) for v in ([value] if isinstance(value, str) else value)]
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        with httpx.stream("GET", f"{self.endpoint}/v1/export/events", params=params,
                          headers=headers, timeout=self._timeout_s) as response:  # fmt: skip
            if response.status_code != 200:
                response.read()
                raise ExportError(f"{response.status_code}: {response.text}")
            data = response.read()
        return pa.ipc.open_stream(data).read_all()

    def events(
        self,
        from_: str | datetime | None = "-24h",
        to: str | datetime | None = None,
        columns: list[str] | None = None,
        **filters: str | list[str],
    ) -> pd.DataFrame:
        """Like events_arrow, as a pandas DataFrame: times tz-aware UTC, dimensions as
        categoricals, nullable numbers as pandas' nullable dtypes."""
        import pandas as pd
        import pyarrow as pa

        table = self.events_arrow(from_, to, columns, **filters)
        # Integer columns with nulls stay integers (pandas' nullable dtypes), not floats.
        nullable = {pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(),
                    pa.uint64(): pd.UInt64Dtype(), pa.int64(): pd.Int64Dtype()}  # fmt: skip
        frame: pd.DataFrame = table.to_pandas(types_mapper=nullable.get)
        for name in CATEGORICAL & set(frame.columns):
            frame[name] = frame[name].astype("category")
        return frame
