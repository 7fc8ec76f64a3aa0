"""Tenants: their configuration over the environment's, their API keys, and who a
presented key belongs to."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from recommendation_engine.config import EngineSettings
from recommendation_engine.errors import NotFound, ValidationFailed
from recommendation_engine.models import TenantInput
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.ttl_cache import TTLCache
from recommendation_engine.storage import tenants as repo
from recommendation_engine.storage.cache import ResponseCache

# How long a replica trusts its copy of a tenant's configuration or of a key's owner
# (service.ttl_cache). The replica that takes a change applies it at once; the others
# within this time.
CACHE_SECONDS = 5.0
KEY_PREFIX = "rek_"


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """The settings a tenant's requests are answered with."""

    collaborative_weight: float
    content_based_weight: float
    similarity_threshold: float
    default_recommendation_count: int
    max_recommendation_count: int
    auto_tuning: bool
    # Sequential model settings the tuning keeps (engine.sequential_knn field names).
    model_settings: dict[str, float]
    # Whether the hybrid weights above were set (by the tenant or the environment): a
    # request without weights then uses them instead of the model's tuned blend.
    weights_pinned: bool

    @classmethod
    def resolve(cls, engine: EngineSettings, overrides: dict[str, Any]) -> TenantConfig:
        weights = {"collaborative_weight", "content_based_weight"}
        values = {
            name: overrides.get(name, getattr(engine, name))
            for name in cls.__dataclass_fields__
            if name != "weights_pinned"
        }
        values["model_settings"] = {**engine.model_settings, **overrides.get("model_settings", {})}
        pinned = bool(weights & (set(overrides) | engine.model_fields_set))
        return cls(**values, weights_pinned=pinned)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: an administrator, or a key bound to one tenant."""

    tenant_id: str | None

    @property
    def admin(self) -> bool:
        return self.tenant_id is None


ADMIN = Principal(tenant_id=None)


def hash_key(key: str) -> bytes:
    # Keys are 256 random bits, so an unsalted digest is as strong as the key.
    return hashlib.sha256(key.encode()).digest()


class TenantService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: EngineSettings,
        types: InteractionTypeService,
        responses: ResponseCache,
        admin_key: str | None,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._types = types
        self._responses = responses
        self._admin_key = admin_key.encode() if admin_key else None
        self._configs: TTLCache[str, TenantConfig] = TTLCache(CACHE_SECONDS)
        self._keys: TTLCache[bytes, Principal | None] = TTLCache(CACHE_SECONDS)

    # -- configuration ------------------------------------------------------------------

    async def config(self, tenant_id: str) -> TenantConfig:
        return await self._configs.get_or_load(tenant_id, lambda: self._read_config(tenant_id))

    async def _read_config(self, tenant_id: str) -> TenantConfig:
        async with self._pool.acquire() as conn:
            overrides = await repo.config(conn, tenant_id)
        return TenantConfig.resolve(self._engine, overrides)

    async def get(self, tenant_id: str) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await repo.get(conn, tenant_id)
        if row is None:
            raise NotFound(f"tenant '{tenant_id}' is not registered")
        return await self._view(row)

    async def own(self, tenant_id: str) -> dict[str, Any]:
        """The tenant as its own keys see it: registered or not, with the settings its
        requests are answered with."""
        async with self._pool.acquire() as conn:
            row = await repo.get(conn, tenant_id)
        unregistered = {
            "tenant_id": tenant_id,
            "name": None,
            "config": {},
            "created_at": None,
            "updated_at": None,
        }
        return {**await self._view(row or unregistered), "registered": row is not None}

    async def list_all(self) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await repo.list_all(conn)
        return [await self._view(row) for row in rows]

    async def put(self, tenant_id: str, body: TenantInput) -> tuple[dict[str, Any], bool]:
        overrides = body.config.model_dump(exclude_none=True)
        resolved = TenantConfig.resolve(self._engine, overrides)
        _check(resolved)
        for name, weight in body.interaction_type_weights.items():
            if name not in await self._types.all(tenant_id):
                await self._types.create(tenant_id, name, weight, None)
            else:
                await self._types.update(tenant_id, name, weight, None)
        async with self._pool.acquire() as conn:
            row, created = await repo.upsert(conn, tenant_id, body.name, overrides)
        self._configs.pop(tenant_id)
        await self._responses.invalidate_tenant(tenant_id)
        return await self._view(row), created

    async def delete(self, tenant_id: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            hashes = await repo.key_hashes(conn, tenant_id)
            if not await repo.delete(conn, tenant_id):
                raise NotFound(f"tenant '{tenant_id}' is not registered")
        for digest in hashes:
            self._keys.pop(digest)
        self._configs.pop(tenant_id)
        self._types.forget(tenant_id)
        await self._responses.invalidate_tenant(tenant_id)

    async def _view(self, row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
        tenant_id = row["tenant_id"]
        types = await self._types.all(tenant_id)
        return {
            "tenant_id": tenant_id,
            "name": row["name"],
            "config": row["config"],
            "effective_config": TenantConfig.resolve(self._engine, row["config"]).as_dict(),
            "interaction_type_weights": {name: t.default_weight for name, t in types.items()},
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    # -- API keys -----------------------------------------------------------------------

    async def create_key(self, name: str | None, tenant_id: str | None) -> dict[str, Any]:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn, conn.transaction():
            if tenant_id is not None:
                await repo.ensure(conn, tenant_id)
            row = await repo.insert_key(conn, hash_key(key), key[:12], name, tenant_id)
        return {**_key_view(row), "key": key}

    async def list_keys(self, tenant_id: str | None) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            return [_key_view(row) for row in await repo.list_keys(conn, tenant_id)]

    async def delete_key(self, key_id: str) -> None:
        async with self._pool.acquire() as conn:
            digest = await repo.delete_key(conn, key_id)
        if digest is None:
            raise NotFound(f"API key '{key_id}' does not exist")
        self._keys.pop(digest)

    async def authenticate(self, key: str) -> Principal | None:
        """The owner of ``key``: the administrator for API_KEY or an administrator key,
        a tenant for a tenant's key; None for an unknown key."""
        if self._admin_key is not None and hmac.compare_digest(key.encode(), self._admin_key):
            return ADMIN
        if not key.startswith(KEY_PREFIX):
            return None
        digest = hash_key(key)
        return await self._keys.get_or_load(digest, lambda: self._owner(digest))

    async def _owner(self, digest: bytes) -> Principal | None:
        async with self._pool.acquire() as conn:
            row = await repo.find_key(conn, digest)
        return Principal(row["tenant_id"]) if row else None


def _key_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["key_id"],
        "name": row["name"],
        "tenant_id": row["tenant_id"],
        "role": "tenant" if row["tenant_id"] else "admin",
        "prefix": row["key_prefix"],
        "created_at": row["created_at"],
    }


def _check(config: TenantConfig) -> None:
    if config.default_recommendation_count > config.max_recommendation_count:
        raise ValidationFailed(
            "default_recommendation_count cannot exceed max_recommendation_count",
            config.as_dict(),
        )
    if config.collaborative_weight + config.content_based_weight <= 0:
        raise ValidationFailed(
            "collaborative_weight and content_based_weight cannot both be 0", config.as_dict()
        )
