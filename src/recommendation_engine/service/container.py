"""The services one process runs, built once per process over one pool."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from recommendation_engine.config import Settings
from recommendation_engine.service.entities import EntityService
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.interactions import InteractionService
from recommendation_engine.service.vector_indexer import VectorIndexer


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    entities: EntityService
    interactions: InteractionService
    interaction_types: InteractionTypeService
    vector_indexer: VectorIndexer

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool) -> Services:
        types = InteractionTypeService(pool)
        return cls(
            settings=settings,
            pool=pool,
            entities=EntityService(pool, settings.engine.feature_vector_dimension),
            interactions=InteractionService(pool, types),
            interaction_types=types,
            vector_indexer=VectorIndexer(pool),
        )

    def start_background(self) -> None:
        self.vector_indexer.start()

    async def stop_background(self) -> None:
        await self.vector_indexer.stop()
