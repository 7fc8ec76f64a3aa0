"""The services one process runs, built once per process over one pool."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from recommendation_engine import metrics
from recommendation_engine.config import Settings
from recommendation_engine.engine import ensemble, list_kernels
from recommendation_engine.service.background import BackgroundTasks, PeriodicJob
from recommendation_engine.service.entities import EntityService
from recommendation_engine.service.entity_rows import EntityRowCache
from recommendation_engine.service.experiment_serving import ServedRecommendations
from recommendation_engine.service.experiments import ExperimentService
from recommendation_engine.service.impressions import ImpressionLog
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.interactions import InteractionService
from recommendation_engine.service.item_lists import ItemListCache
from recommendation_engine.service.live_models import LiveModels
from recommendation_engine.service.online_evaluation import OnlineEvaluation
from recommendation_engine.service.recommendations import RecommendationService
from recommendation_engine.service.scheduler import ModelScheduler
from recommendation_engine.service.tenants import TenantService
from recommendation_engine.service.training import ModelTrainer
from recommendation_engine.service.trending import TrendingService
from recommendation_engine.service.vector_indexer import VectorIndexer
from recommendation_engine.service.webhook_delivery import Outbox, WebhookDispatcher
from recommendation_engine.service.webhooks import WebhookService
from recommendation_engine.storage import model_store
from recommendation_engine.storage.cache import ResponseCache
from recommendation_engine.storage.model_store import ModelInfo

POOL_REPORT_SECONDS = 5.0
# How often a requested rebuild tries again while another process trains the tenant.
REBUILD_RETRY_SECONDS = 0.5


def model_settings(live: ModelInfo | None) -> dict[str, Any]:
    """What the live version was built with: its settings (the sequential model's and
    the blend's weights), what its tuning chose and measured (None when not tuned), and
    what the full build took besides tuning."""
    if live is None:
        return {"settings": None, "tuning": None, "build_seconds": None}
    config = ensemble.config_from_dict(live.config)
    return {
        "settings": {
            "sequential": asdict(config.sequential),
            "weights": asdict(config.weights),
        },
        "tuning": live.config.get("tuning"),
        "build_seconds": live.config.get("build_seconds"),
    }


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    entities: EntityService
    interactions: InteractionService
    interaction_types: InteractionTypeService
    vector_indexer: VectorIndexer
    trainer: ModelTrainer
    recommendations: RecommendationService
    scheduler: ModelScheduler
    trending: TrendingService
    cache: ResponseCache
    tenants: TenantService
    webhooks: WebhookService
    dispatcher: WebhookDispatcher
    item_lists: ItemListCache
    entity_rows: EntityRowCache
    experiments: ExperimentService
    impressions: ImpressionLog
    served: ServedRecommendations
    online_evaluation: OnlineEvaluation
    _tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    _pool_report: PeriodicJob | None = None

    @classmethod
    def build(cls, settings: Settings, pool: asyncpg.Pool) -> Services:
        limits = settings.limits
        redis_url = settings.redis.url.get_secret_value() if settings.redis.url else None
        cache = ResponseCache(
            limits.recommendation_cache_ttl_secs,
            redis_url,
            max_entries=limits.recommendation_cache_max_entries,
            max_bytes=limits.recommendation_cache_max_bytes,
            redis_connections=settings.redis.pool_size,
        )
        types = InteractionTypeService(pool, cache)
        live_models = LiveModels()
        engine = settings.engine
        outbox = Outbox()
        tenants = TenantService(
            pool,
            engine,
            types,
            cache,
            settings.auth.api_key.get_secret_value() if settings.auth.api_key else None,
        )
        trainer = ModelTrainer(
            pool,
            types,
            live_models,
            timedelta(hours=engine.full_rebuild_interval_hours),
            outbox,
            tenants.config,
            engine.feature_vector_dimension,
        )
        trending = TrendingService(
            pool, types, timedelta(hours=engine.trending_update_interval_hours), cache
        )
        item_lists = ItemListCache(limits.model_cache_max_bytes, pool)
        entity_rows = EntityRowCache(limits.entity_cache_max_bytes, pool)
        recommendations = RecommendationService(
            pool,
            types,
            trending,
            live_models,
            tenants,
            cache,
            item_lists,
            entity_rows,
        )
        experiments = ExperimentService(
            pool, types, tenants, settings.experiments.attribution_window_hours
        )
        impressions = ImpressionLog(
            pool,
            settings.experiments.impression_flush_interval_secs,
            settings.experiments.impression_buffer_max,
            timedelta(days=settings.experiments.impression_retention_days),
        )
        return cls(
            settings=settings,
            pool=pool,
            entities=EntityService(pool, settings.engine.feature_vector_dimension, cache, outbox),
            interactions=InteractionService(pool, types, cache, outbox),
            interaction_types=types,
            vector_indexer=VectorIndexer(pool),
            trainer=trainer,
            recommendations=recommendations,
            item_lists=item_lists,
            entity_rows=entity_rows,
            experiments=experiments,
            impressions=impressions,
            served=ServedRecommendations(recommendations, experiments, impressions),
            online_evaluation=OnlineEvaluation(pool, settings.experiments.attribution_window_hours),
            trending=trending,
            cache=cache,
            webhooks=WebhookService(pool, settings.webhooks.allow_private_targets),
            dispatcher=WebhookDispatcher(pool, outbox, settings.webhooks),
            tenants=tenants,
            scheduler=ModelScheduler(
                pool,
                trainer,
                trending,
                update_interval=engine.incremental_update_interval_secs,
            ),
        )

    async def rebuild(self, tenant_id: str, incremental: bool = False) -> None:
        """Refresh trending data and retrain the tenant's model now; or, ``incremental``,
        fold in the interactions recorded since the live version (a full rebuild when
        there is none or it is due)."""
        await self.trending.refresh(tenant_id, now=True)
        if incremental:
            await self.trainer.update(tenant_id)
            return
        # Asked for, a full rebuild happens: while another process trains the tenant
        # (an update here or on another replica), it waits its turn.
        while True:
            if await self.trainer.rebuild(tenant_id) is not None:
                return
            await asyncio.sleep(REBUILD_RETRY_SECONDS)

    def start_rebuild(self, tenant_id: str, incremental: bool = False) -> None:
        """Run `rebuild` in the background; stopping the services cancels it."""
        self._tasks.start(self.rebuild(tenant_id, incremental), f"rebuild-{tenant_id}")

    async def model_status(self, tenant_id: str) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            live = await model_store.live(conn, tenant_id)
            building = await model_store.building(conn, tenant_id)
            newest = await model_store.newest_interaction_id(conn, tenant_id)
        return {
            "state": "live" if live else ("building" if building else "none"),
            "building": building is not None,
            "version": live.version if live else None,
            "algorithm": live.algorithm if live else None,
            "trained_at": live.trained_at if live else None,
            "base_version": live.base_version if live else None,
            "last_incremental_update": (
                live.updated_at if live is not None and live.incremental else None
            ),
            "users": live.users if live else 0,
            "entities": live.items if live else 0,
            "interactions": live.interactions if live else 0,
            "interactions_since_training": max(
                0, newest - (live.last_interaction_id if live else 0)
            ),
            **model_settings(live),
        }

    async def refresh_gauges(self) -> None:
        """Set the gauges read at scrape time: this process's pool, every live model."""
        self._set_pool_gauges()
        async with self.pool.acquire() as conn:
            live = await model_store.all_live(conn)
        now = datetime.now(UTC)
        for model in live:
            if model.trained_at is not None:
                metrics.MODEL_AGE.labels(model.tenant_id).set(
                    (now - model.trained_at).total_seconds()
                )
            metrics.MODEL_ENTITIES.labels(model.tenant_id).set(model.items)
            metrics.MODEL_USERS.labels(model.tenant_id).set(model.users)

    async def _report_pool(self) -> None:
        """Keep this process's pool gauges current (a scrape reads every process's)."""
        self._set_pool_gauges()

    def _set_pool_gauges(self) -> None:
        metrics.POOL_MAX.set(self.pool.get_max_size())
        metrics.POOL_OPEN.set(self.pool.get_size())
        metrics.POOL_IDLE.set(self.pool.get_idle_size())

    async def start_background(self) -> None:
        # The ranking loops are compiled (or loaded from numba's cache) before the first
        # request, off the event loop.
        await asyncio.to_thread(list_kernels.warm)
        await self.cache.start()
        if self._pool_report is None:
            self._pool_report = PeriodicJob("pool-gauges", self._report_pool, POOL_REPORT_SECONDS)
        self._pool_report.start()
        self.vector_indexer.start()
        self.dispatcher.start()
        self.impressions.start()
        if self.settings.engine.background_jobs:
            self.scheduler.start()

    async def stop_background(self) -> None:
        await self._tasks.stop()
        if self._pool_report is not None:
            await self._pool_report.stop()
        await self.scheduler.stop()
        await self.dispatcher.stop()
        await self.vector_indexer.stop()
        await self.item_lists.stop()
        await self.entity_rows.stop()
        await self.impressions.stop()
        await self.cache.stop()
