"""Settings read from the environment (and an optional `.env` file).

Variable names are the documented contract: each field below is read from the
upper-case environment variable of the same name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ENV = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


class ServerSettings(BaseSettings):
    model_config = _ENV
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="HTTP worker processes")
    worker_threads: int = Field(4, ge=1, description="Accepted for compatibility; unused")
    log_level: Literal["trace", "debug", "info", "warn", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    data_dir: Path = Path("./data")
    max_request_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    metrics_enabled: bool = Field(True, description="Count requests and serve GET /metrics")
    metrics_api_key: SecretStr | None = Field(
        None, description="When set, GET /metrics answers only requests that present it"
    )
    cors_allowed_origins: str = ""
    trusted_proxies: str = Field(
        "", description="Addresses whose X-Forwarded-For is believed (comma-separated)"
    )
    shutdown_timeout_secs: float = Field(30.0, ge=0)
    shutdown_drain_secs: float = Field(
        5.0, ge=0, description="After SIGTERM, seconds /ready answers 503 before stopping"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(**_ENV, env_prefix="DATABASE_")
    url: SecretStr | None = None
    max_connections: int = Field(20, ge=2, le=1000)


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(**_ENV, env_prefix="REDIS_")
    url: SecretStr | None = None
    pool_size: int = Field(10, ge=1)


class AuthSettings(BaseSettings):
    model_config = _ENV
    api_key: SecretStr | None = None
    require_api_key: bool = True


class EngineSettings(BaseSettings):
    model_config = _ENV
    collaborative_weight: float = Field(0.6, ge=0)
    content_based_weight: float = Field(0.4, ge=0)
    similarity_threshold: float = Field(0.5, ge=-1, le=1)
    auto_tuning: bool = Field(True, description="Tune each tenant's model at every full rebuild")
    model_settings: dict[str, float] = Field(
        default_factory=dict,
        description="Settings of the sequential model every tenant's tuning keeps (JSON)",
    )
    default_recommendation_count: int = Field(10, ge=1)
    max_recommendation_count: int = Field(100, ge=1)
    # pgvector's HNSW index takes half-precision vectors of up to 4,000 dimensions.
    feature_vector_dimension: int = Field(512, ge=8, le=4000)
    incremental_update_interval_secs: int = Field(10, ge=1)
    full_rebuild_interval_hours: int = Field(24, ge=1)
    trending_update_interval_hours: int = Field(1, ge=1)
    background_jobs: bool = Field(True, description="Run model updates in this process")


class LimitSettings(BaseSettings):
    model_config = _ENV
    rate_limit_enabled: bool = True
    rate_limit_requests_per_minute: int = Field(1000, ge=1)
    rate_limit_burst_size: int = Field(100, ge=1)
    recommendation_cache_ttl_secs: int = Field(300, ge=0)
    recommendation_cache_max_entries: int = Field(
        10_000, ge=1, description="Responses one process keeps in memory"
    )
    recommendation_cache_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Bytes of responses one process keeps in memory"
    )
    max_bulk_items: int = Field(10_000, ge=1, description="Rows accepted by one bulk request")
    model_cache_max_bytes: int = Field(
        256 * 1024 * 1024, ge=0, description="Bytes of model item lists one process keeps"
    )
    entity_cache_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Bytes of entity rows (of ranked model items) one process keeps",
    )


class TenancySettings(BaseSettings):
    model_config = _ENV
    default_tenant_id: str = "default"
    enable_multi_tenancy: bool = False


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(**_ENV, env_prefix="WEBHOOK_")
    allow_private_targets: bool = Field(
        False, description="Accept loopback, private and link-local addresses as targets"
    )
    timeout_secs: float = Field(5.0, gt=0, description="Time a receiver gets to answer")
    max_attempts: int = Field(8, ge=1, description="Attempts before a delivery is given up")
    retry_base_secs: float = Field(2.0, gt=0, description="Wait before the first retry")
    retry_max_secs: float = Field(3600.0, gt=0, description="Longest wait between retries")
    concurrency: int = Field(8, ge=1, description="Deliveries in flight per process")
    retention_days: int = Field(7, ge=1, description="How long finished deliveries are kept")


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(**_ENV, env_prefix="DASHBOARD_")
    enabled: bool = Field(True, description="Serve the web dashboard at /dashboard")
    session_hours: float = Field(
        8.0, gt=0, le=24 * 30, description="How long a dashboard sign-in lasts"
    )
    metrics_sample_secs: float = Field(
        10.0, gt=0, description="How often the dashboard reads the service's own counters"
    )


class ExperimentSettings(BaseSettings):
    model_config = _ENV
    attribution_window_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 365,
        description="An interaction without a recommendation_id is attributed to the user's "
        "latest impression of its entity at most this long before it",
    )
    impression_flush_interval_secs: float = Field(
        1.0, gt=0, le=3600, description="How often each process writes its buffered impressions"
    )
    impression_buffer_max: int = Field(
        1_000_000, ge=1000, description="Impressions one process buffers at most; more are dropped"
    )
    impression_retention_days: int = Field(
        90, ge=1, le=3650, description="Impressions older than this are deleted"
    )


class TracingSettings(BaseSettings):
    model_config = SettingsConfigDict(**_ENV, env_prefix="TRACING_")
    enabled: bool = False
    endpoint: str = "http://localhost:4317"


class Settings(BaseSettings):
    """All settings, grouped. Each group reads its own variables."""

    model_config = _ENV
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    tenancy: TenancySettings = Field(default_factory=TenancySettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        key = self.auth.api_key.get_secret_value() if self.auth.api_key else ""
        if self.auth.require_api_key and not key:
            raise ValueError(
                "API_KEY is not set while REQUIRE_API_KEY is true: set API_KEY to the key "
                "clients must send, or set REQUIRE_API_KEY=false to run without authentication"
            )
        return self

    def public_view(self) -> dict[str, Any]:
        """The effective configuration with every secret masked."""
        view = self.model_dump(mode="json")
        secrets = (
            ("database", "url"),
            ("redis", "url"),
            ("auth", "api_key"),
            ("server", "metrics_api_key"),
        )
        for group, field in secrets:
            value = getattr(getattr(self, group), field)
            view[group][field] = "********" if value else None
        return view


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
