"""Server settings: environment variables prefixed LLMPULSE_, overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMPULSE_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("~/.llmpulse")
    store: str | None = Field(
        None, description="chdb://PATH or clickhouse://user:pass@host:8123/db"
    )
    prices: Path | None = None
    no_auth: bool = False
    retention_days: int = Field(90, ge=1, le=3650)
    api_keys: str = Field("", description="project:key,... provisioned at start")
    llm: str = Field("", description="NAME=URL[,KEY];... LLM endpoints for the playground")
    ingest_workers: int | None = Field(
        None, ge=0, le=64, description="processes validating events; default: one per core"
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def store_url(self) -> str:
        return self.store or f"chdb://{self.data_dir / 'store'}"

    def llm_endpoints(self) -> dict[str, tuple[str, str | None]]:
        """LLMPULSE_LLM / --llm parsed into name -> (base URL, key or None)."""
        endpoints: dict[str, tuple[str, str | None]] = {}
        for entry in filter(None, (e.strip() for e in self.llm.split(";"))):
            name, sep, rest = entry.partition("=")
            url, _, key = rest.partition(",")
            if not sep or not name or not url.startswith(("http://", "https://")):
                raise ValueError(f"--llm {entry!r} is not NAME=URL[,KEY] with an http(s) URL")
            endpoints[name.strip()] = (url.strip(), key.strip() or None)
        return endpoints

    def provisioned_keys(self) -> dict[str, str]:
        """LLMPULSE_API_KEYS parsed into key -> project."""
        keys = {}
        for entry in filter(None, (e.strip() for e in self.api_keys.split(","))):
            project, sep, key = entry.partition(":")
            if not sep or not project or not key:
                raise ValueError(f"LLMPULSE_API_KEYS: {entry!r} is not project:key")
            keys[key] = project
        return keys
