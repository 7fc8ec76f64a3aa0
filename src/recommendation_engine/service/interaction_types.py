"""A tenant's interaction types: the built-in ones and its own, with their weights."""

from __future__ import annotations

import asyncpg

from recommendation_engine.errors import Conflict, NotFound
from recommendation_engine.models import BUILT_IN_INTERACTION_TYPES, InteractionType
from recommendation_engine.service.ttl_cache import TTLCache
from recommendation_engine.storage import interaction_types as repo
from recommendation_engine.storage import interactions as interactions_repo
from recommendation_engine.storage.cache import ResponseCache

# How long a replica trusts its copy of a tenant's types before reading them again.
CACHE_SECONDS = 5.0


class InteractionTypeService:
    def __init__(self, pool: asyncpg.Pool, responses: ResponseCache) -> None:
        self._pool = pool
        self._cache: TTLCache[str, dict[str, InteractionType]] = TTLCache(CACHE_SECONDS)
        self._responses = responses

    async def all(self, tenant_id: str) -> dict[str, InteractionType]:
        return await self._cache.get_or_load(tenant_id, lambda: self._read(tenant_id))

    async def _read(self, tenant_id: str) -> dict[str, InteractionType]:
        async with self._pool.acquire() as conn:
            rows = await repo.list_stored(conn, tenant_id)
        types = {
            name: InteractionType(name, weight, built_in=True)
            for name, weight in BUILT_IN_INTERACTION_TYPES.items()
        }
        for row in rows:
            name = row["interaction_type"]
            types[name] = InteractionType(
                name,
                float(row["default_weight"]),
                built_in=name in BUILT_IN_INTERACTION_TYPES,
                description=row["description"],
            )
        return types

    def forget(self, tenant_id: str) -> None:
        """Drop this replica's copy of the tenant's types."""
        self._cache.pop(tenant_id)

    async def get(self, tenant_id: str, name: str) -> InteractionType:
        found = (await self.all(tenant_id)).get(name)
        if found is None:
            raise NotFound(f"interaction type '{name}' does not exist")
        return found

    async def create(
        self, tenant_id: str, name: str, weight: float, description: str | None
    ) -> tuple[InteractionType, bool]:
        """Register a custom type; True when it is new. Registering a type that exists
        (built-in or custom) with the weight it has already changes nothing and is not an
        error, so a setup script may run twice; with another weight it is a conflict."""
        created = False
        if name not in BUILT_IN_INTERACTION_TYPES:
            async with self._pool.acquire() as conn:
                created = await repo.insert(conn, tenant_id, name, weight, description)
        self._cache.pop(tenant_id)
        if created:
            return InteractionType(name, weight, built_in=False, description=description), True
        current = await self.get(tenant_id, name)
        if current.default_weight != weight or description not in (None, current.description):
            kind = "a built-in" if current.built_in else "an existing"
            raise Conflict(
                f"'{name}' is {kind} interaction type with weight {current.default_weight:g}; "
                f"change it with PUT /api/v1/interaction-types/{name}",
                {
                    "interaction_type": name,
                    "default_weight": current.default_weight,
                    "built_in": current.built_in,
                },
            )
        return current, False

    async def update(
        self, tenant_id: str, name: str, weight: float, description: str | None
    ) -> InteractionType:
        current = await self.get(tenant_id, name)
        async with self._pool.acquire() as conn:
            await repo.upsert(conn, tenant_id, name, weight, description)
        self._cache.pop(tenant_id)
        await self._responses.invalidate_tenant(tenant_id)  # weights change recommendations
        return InteractionType(name, weight, current.built_in, description or current.description)

    async def delete(self, tenant_id: str, name: str) -> None:
        current = await self.get(tenant_id, name)
        if current.built_in:
            raise Conflict(f"'{name}' is a built-in interaction type and cannot be deleted")
        async with self._pool.acquire() as conn, conn.transaction():
            if await interactions_repo.type_in_use(conn, tenant_id, name):
                raise Conflict(
                    f"interaction type '{name}' is used by recorded interactions",
                    details={"interaction_type": name},
                )
            await repo.delete(conn, tenant_id, name)
        self._cache.pop(tenant_id)
