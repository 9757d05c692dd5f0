"""Server settings: environment variables prefixed LLMPULSE_, overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmpulse.bus.telemetry import DEFAULT_QUEUE
from llmpulse.meta.database import is_postgres, meta_location
from llmpulse.meta.keys import ALL_SCOPES, Grant, KeyStoreError, parse_scopes
from llmpulse.playground.endpoints import Endpoint, parse_endpoints

Role = Literal["all", "collector", "loader", "query", "worker"]
ROLES: tuple[Role, ...] = get_args(Role)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMPULSE_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("~/.llmpulse")
    store: str | None = Field(
        None, description="chdb://PATH or clickhouse://user:pass@host:8123/db"
    )
    meta: str | None = Field(
        None, description="projects and keys: postgresql://... (default: DATA_DIR/keys.sqlite3)"
    )
    key_cache_s: float | None = Field(
        None, ge=0, le=300, description="seconds a key's grant is cached (default: 2 on "
        "PostgreSQL, 0 on SQLite): how long a key made or revoked on another node waits",
    )  # fmt: skip
    lease_s: float = Field(
        30, gt=0, le=3600, description="singleton jobs' lease: a dead node's job moves after it"
    )
    role: Role = Field("all", description="what this process runs (docs/scaling.md)")
    bus: str | None = Field(
        None,
        description="the bus between collectors and loaders: amqp://user:pass@host:5672/ "
        "(RabbitMQ) or kafka://host:9092",
    )
    bus_queue: str = Field(DEFAULT_QUEUE, pattern=r"^[A-Za-z0-9_.-]{1,200}$")
    prices: Path | None = None
    no_auth: bool = False
    no_alerts: bool = Field(False, description="leave alert evaluation to another process")
    retention_days: int = Field(90, ge=1, le=3650)
    api_keys: str = Field("", description="project:key[:scopes],... provisioned at start")
    llm: str = Field("", description="NAME=URL[,KEY];... LLM endpoints for the playground")
    public_url: str | None = Field(
        None, description="the dashboard's address in alert messages; default http://HOST:PORT"
    )
    lake: str | None = Field(
        None, description="export to this Parquet lake (file://PATH or s3://bucket/prefix)"
    )
    lake_interval_s: float = Field(300, gt=0, description="seconds between lake exports")
    lake_settle_s: float = Field(
        30, ge=0, description="calls stored in the last seconds wait for the next lake run"
    )
    ingest_workers: int | None = Field(
        None, ge=0, le=64, description="processes validating events; default: one per core"
    )

    @model_validator(mode="after")
    def _bus_for_roles(self) -> Settings:
        if self.role in ("collector", "loader", "query") and not self.bus:
            raise ValueError(f"--role {self.role} needs --bus (amqp:// or kafka://): it "
                             "shares work with other nodes through it")  # fmt: skip
        return self

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def store_url(self) -> str:
        return self.store or f"chdb://{self.data_dir / 'store'}"

    @property
    def meta_url(self) -> str:
        return meta_location(self.data_dir, self.meta)

    @property
    def key_cache_seconds(self) -> float:
        if self.key_cache_s is not None:
            return self.key_cache_s
        return 2.0 if is_postgres(self.meta_url) else 0.0

    def llm_endpoints(self) -> dict[str, Endpoint]:
        """LLMPULSE_LLM / --llm parsed into the playground's endpoints by name."""
        return parse_endpoints(self.llm)

    def provisioned_keys(self) -> dict[str, Grant]:
        """LLMPULSE_API_KEYS (`project:key[:scope+scope]`, every scope when none is given)
        parsed into key -> grant."""
        keys = {}
        entries = filter(None, (e.strip() for e in self.api_keys.split(",")))
        for number, entry in enumerate(entries, start=1):
            project, sep, rest = entry.partition(":")
            key, _, scopes = rest.partition(":")
            if not sep or not project or not key:  # the entry is not shown: it holds a key
                raise ValueError(f"LLMPULSE_API_KEYS: entry {number} is not project:key[:scopes]")
            try:
                granted = parse_scopes(scopes) if scopes else ALL_SCOPES
            except KeyStoreError as exc:
                raise ValueError(f"LLMPULSE_API_KEYS: project {project}: {exc}") from None
            keys[key] = Grant(project, granted)
        return keys
