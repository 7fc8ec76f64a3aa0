"""The asyncio client against the real service."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Awaitable, Callable

import pytest

from conftest import Service
from recommendation_client import (
    AsyncRecommendationClient,
    ConflictError,
    Entity,
    NotFoundError,
    ValidationError,
)


def run(service: Service, body: Callable[[AsyncRecommendationClient], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with AsyncRecommendationClient(service.url, api_key=service.api_key, **kw) as client:
            await body(client)

    asyncio.run(main())


def test_entity_round_trip_and_errors(service: Service, unique: str) -> None:
    async def body(client: AsyncRecommendationClient) -> None:
        created = await client.create_entity(entity_id=f"{unique}-a", entity_type="product",
                                             attributes={"colour": "red"})
        assert isinstance(created, Entity) and created.attributes == {"colour": "red"}
        assert (await client.get_entity(entity_id=f"{unique}-a")).entity_type == "product"
        updated = await client.update_entity(entity_id=f"{unique}-a", attributes={"colour": "blue"})
        assert updated.attributes == {"colour": "blue"}
        with pytest.raises(ConflictError) as conflict:
            await client.create_entity(entity_id=f"{unique}-a", entity_type="product")
        assert conflict.value.request_id and conflict.value.status == 409
        with pytest.raises(ValidationError):
            await client.record_interaction(user_id="u", entity_id=f"{unique}-a", interaction_type="no-such-type")
        await client.delete_entity(entity_id=f"{unique}-a")
        with pytest.raises(NotFoundError) as missing:
            await client.get_entity(entity_id=f"{unique}-a")
        assert missing.value.code == "not_found" and missing.value.request_id

    run(service, body)


def test_concurrent_idempotent_interactions_and_iterators(service: Service, unique: str) -> None:
    async def body(client: AsyncRecommendationClient) -> None:
        await client.create_entity(entity_id=f"{unique}-p", entity_type="product")
        event = f"{unique}-event"
        same = await asyncio.gather(*[
            client.record_interaction(user_id=f"{unique}-u", entity_id=f"{unique}-p",
                                      interaction_type="click", event_id=event)
            for _ in range(5)
        ])
        assert len({i.id for i in same}) == 1
        await asyncio.gather(*[
            client.record_interaction(user_id=f"{unique}-u", entity_id=f"{unique}-p", interaction_type="view")
            for _ in range(4)
        ])
        items = [i async for i in client.iter_user_interactions(user_id=f"{unique}-u", page_size=2)]
        assert len(items) == 5
        items = [i async for i in client.iter_entity_interactions(entity_id=f"{unique}-p", page_size=4)]
        assert len(items) == 5

    run(service, body)


def test_import_export_and_tenant_override(service: Service) -> None:
    tenant = f"async-{uuid.uuid4().hex[:8]}"

    async def body(client: AsyncRecommendationClient) -> None:
        progress: list[int] = []
        report = await client.import_entities(
            ({"entity_id": f"e{i}", "entity_type": "item"} for i in range(7)),
            chunk_size=2, progress=lambda done, _: progress.append(done), progress_bar=False,
        )
        assert report.created == 7 and progress == [2, 4, 6, 7]
        report = await client.import_interactions(
            [{"user_id": "u", "entity_id": f"e{i}", "interaction_type": "view"} for i in range(3)]
            + [{"user_id": "u", "interaction_type": "view"}],
            chunk_size=3, progress_bar=False,
        )
        assert report.created == 3 and [(e.index, e.reason) for e in report.errors] == [(3, "invalid")]
        rows = [row async for row in client.export()]
        assert len(rows) == 10
        assert [r async for r in client.export("entities", tenant_id="default")] != rows[:7]
        assert (await client.get_tenant()).tenant_id == tenant
        assert (await client.get_tenant(tenant_id="default")).tenant_id == "default"
        status = await client.get_model_status()
        assert status.state in ("none", "building", "live")
        assert (await client.rebuild_model(incremental=True))["status"] == "accepted"
        trending = await client.get_trending(count=3)
        assert trending.window_days == 7
        recs = await client.get_user_recommendations(user_id="u", count=3)
        assert recs.user_id == "u"
        similar = await client.get_similar_entities(entity_id="e0", count=3)
        assert similar.entity_id == "e0"
        hook = await client.create_webhook(url="http://127.0.0.1:9/hook", events=["*"])
        assert len(hook.secret) >= 16
        assert [h.id for h in await client.list_webhooks()] == [hook.id]
        assert [d async for d in client.iter_webhook_deliveries(webhook_id=hook.id)] == []
        await client.delete_webhook(webhook_id=hook.id)

    run(service, body, tenant_id=tenant)
