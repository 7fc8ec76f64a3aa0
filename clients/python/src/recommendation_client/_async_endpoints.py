"""Every API method of AsyncRecommendationClient. ``_sync_endpoints.py`` is made from
this file by ``scripts/unasync.py`` (a test checks it is up to date): edit this one."""

from __future__ import annotations

import json
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from . import models as m
from ._base import (
    Call,
    Progress,
    ProgressCallback,
    as_dict,
    chunks,
    nothing,
    page_params,
    split_filters,
    with_event_ids,
)

JSON = Dict[str, Any]


def _list_of(cls: Any) -> Any:
    return lambda data: [cls.from_dict(item) for item in (data or [])]


class AsyncEndpoints:
    """The service's routes as methods. Every method takes ``tenant_id=`` to act on
    another tenant than the client's for that call."""

    async def _run(self, call: Call[Any]) -> Any:  # pragma: no cover - implemented by the client
        raise NotImplementedError

    def _lines(self, call: Call[Any]) -> AsyncIterator[str]:  # pragma: no cover
        raise NotImplementedError

    def _chunk_size(self, chunk_size: Optional[int]) -> int:  # pragma: no cover
        raise NotImplementedError

    # ----------------------------------------------------------------- entities

    async def create_entity(
        self,
        *,
        entity_id: str,
        entity_type: str,
        attributes: Optional[Mapping[str, Any]] = None,
        feature_vector: Optional[Sequence[float]] = None,
        tenant_id: Optional[str] = None,
    ) -> m.Entity:
        """Register an entity (409 ``ConflictError`` when it exists)."""
        body: JSON = {"entity_id": entity_id, "entity_type": entity_type, "attributes": dict(attributes or {})}
        if feature_vector is not None:
            body["feature_vector"] = list(feature_vector)
        result: m.Entity = await self._run(
            Call("POST", "/api/v1/entities", m.Entity.from_dict, json=body, tenant_id=tenant_id)
        )
        return result

    async def get_entity(
        self, *, entity_id: str, entity_type: Optional[str] = None, tenant_id: Optional[str] = None
    ) -> m.Entity:
        """Read one entity (``entity_type`` may be left out when the id is unique)."""
        result: m.Entity = await self._run(
            Call("GET", f"/api/v1/entities/{entity_id}", m.Entity.from_dict,
                 params={"entity_type": entity_type}, tenant_id=tenant_id)
        )
        return result

    async def update_entity(
        self,
        *,
        entity_id: str,
        attributes: Mapping[str, Any],
        entity_type: Optional[str] = None,
        feature_vector: Optional[Sequence[float]] = None,
        tenant_id: Optional[str] = None,
    ) -> m.Entity:
        """Replace an entity's attributes (and feature vector)."""
        body: JSON = {"attributes": dict(attributes)}
        if feature_vector is not None:
            body["feature_vector"] = list(feature_vector)
        result: m.Entity = await self._run(
            Call("PUT", f"/api/v1/entities/{entity_id}", m.Entity.from_dict,
                 params={"entity_type": entity_type}, json=body, tenant_id=tenant_id)
        )
        return result

    async def delete_entity(
        self, *, entity_id: str, entity_type: Optional[str] = None, tenant_id: Optional[str] = None
    ) -> None:
        """Delete an entity and its interactions."""
        await self._run(
            Call("DELETE", f"/api/v1/entities/{entity_id}", nothing,
                 params={"entity_type": entity_type}, tenant_id=tenant_id)
        )

    async def bulk_create_entities(
        self, entities: Sequence[Mapping[str, Any]], *, tenant_id: Optional[str] = None
    ) -> m.BulkResult:
        """Create or replace up to the server's MAX_BULK_ITEMS entities in one request
        (an upsert, so it is retried safely)."""
        result: m.BulkResult = await self._run(
            Call("POST", "/api/v1/entities/bulk", m.BulkResult.from_dict,
                 json={"entities": [dict(e) for e in entities]}, tenant_id=tenant_id, idempotent=True)
        )
        return result

    async def import_entities(
        self,
        entities: Iterable[Mapping[str, Any]],
        *,
        chunk_size: Optional[int] = None,
        progress: Optional[ProgressCallback] = None,
        progress_bar: Optional[bool] = None,
        tenant_id: Optional[str] = None,
    ) -> m.BulkResult:
        """Send any number of entities in bulk requests of ``chunk_size`` rows (default:
        the client's ``bulk_chunk_size``, 1000); one merged report whose error indexes
        count from the start of ``entities``. ``progress(rows_done, report)`` is called
        after each request; a tqdm bar is shown when tqdm is installed, unless
        ``progress_bar=False``."""
        return await self._import_in_chunks(
            entities, self.bulk_create_entities, "entities", chunk_size, progress, progress_bar, tenant_id
        )

    async def _import_in_chunks(
        self,
        rows: Iterable[Mapping[str, Any]],
        send: Callable[..., Awaitable[m.BulkResult]],
        kind: str,
        chunk_size: Optional[int],
        progress: Optional[ProgressCallback],
        progress_bar: Optional[bool],
        tenant_id: Optional[str],
    ) -> m.BulkResult:
        """``rows`` through ``send`` (a bulk method) in chunks; one merged report."""
        size = self._chunk_size(chunk_size)
        report = m.BulkResult()
        bar = Progress(rows, progress, progress_bar, kind)
        offset = 0
        try:
            for chunk in chunks(rows, size):
                part = await send(chunk, tenant_id=tenant_id)
                report.merge(part, offset)
                offset += len(chunk)
                bar.update(offset, len(chunk), report)
        finally:
            bar.close()
        return report

    async def export_entities(self, *, tenant_id: Optional[str] = None) -> AsyncIterator[JSON]:
        """Every entity of the tenant, one dict at a time, streamed (NDJSON)."""
        async for line in self._lines(Call("GET", "/api/v1/entities/export", nothing, tenant_id=tenant_id)):
            yield json.loads(line)

    # ------------------------------------------------------------- interactions

    async def record_interaction(
        self,
        *,
        user_id: str,
        entity_id: str,
        interaction_type: str,
        entity_type: Optional[str] = None,
        value: Optional[float] = None,
        weight: Optional[float] = None,
        timestamp: Optional[str] = None,
        event_id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        recommendation_id: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> m.Interaction:
        """Record one interaction. Without ``event_id`` a random one is sent, so a retry
        after a lost answer is stored once. ``timestamp``: RFC 3339 text.
        ``recommendation_id``: the answer the interaction responds to, for experiments."""
        body: JSON = {
            "user_id": user_id,
            "entity_id": entity_id,
            "interaction_type": interaction_type,
            "event_id": event_id or str(uuid.uuid4()),
        }
        for key, val in (("entity_type", entity_type), ("value", value), ("weight", weight),
                         ("timestamp", timestamp), ("recommendation_id", recommendation_id)):
            if val is not None:
                body[key] = val
        if metadata is not None:
            body["metadata"] = dict(metadata)
        result: m.Interaction = await self._run(
            Call("POST", "/api/v1/interactions", m.Interaction.from_dict, json=body,
                 tenant_id=tenant_id, idempotent=True)
        )
        return result

    async def list_user_interactions(
        self, *, user_id: str, limit: int = 50, offset: int = 0, tenant_id: Optional[str] = None
    ) -> List[m.Interaction]:
        """One page of a user's interactions, newest first."""
        limit, offset = page_params(limit, offset)
        result: List[m.Interaction] = await self._run(
            Call("GET", f"/api/v1/interactions/user/{user_id}", _list_of(m.Interaction),
                 params={"limit": limit, "offset": offset}, tenant_id=tenant_id)
        )
        return result

    async def iter_user_interactions(
        self, *, user_id: str, page_size: int = 100, tenant_id: Optional[str] = None
    ) -> AsyncIterator[m.Interaction]:
        """All of a user's interactions, newest first, fetched a page at a time."""
        offset = 0
        while True:
            page = await self.list_user_interactions(
                user_id=user_id, limit=page_size, offset=offset, tenant_id=tenant_id
            )
            for item in page:
                yield item
            if len(page) < page_size:
                return
            offset += len(page)

    async def list_entity_interactions(
        self,
        *,
        entity_id: str,
        entity_type: Optional[str] = None,
        limit: int = 50,
        offset: int = 0,
        tenant_id: Optional[str] = None,
    ) -> List[m.Interaction]:
        """One page of an entity's interactions, newest first."""
        limit, offset = page_params(limit, offset)
        result: List[m.Interaction] = await self._run(
            Call("GET", f"/api/v1/interactions/entity/{entity_id}", _list_of(m.Interaction),
                 params={"entity_type": entity_type, "limit": limit, "offset": offset},
                 tenant_id=tenant_id)
        )
        return result

    async def iter_entity_interactions(
        self,
        *,
        entity_id: str,
        entity_type: Optional[str] = None,
        page_size: int = 100,
        tenant_id: Optional[str] = None,
    ) -> AsyncIterator[m.Interaction]:
        """All of an entity's interactions, newest first, fetched a page at a time."""
        offset = 0
        while True:
            page = await self.list_entity_interactions(
                entity_id=entity_id, entity_type=entity_type, limit=page_size, offset=offset,
                tenant_id=tenant_id,
            )
            for item in page:
                yield item
            if len(page) < page_size:
                return
            offset += len(page)

    async def bulk_record_interactions(
        self, interactions: Sequence[Mapping[str, Any]], *, tenant_id: Optional[str] = None
    ) -> m.BulkResult:
        """Record up to MAX_BULK_ITEMS interactions in one request. Rows without an
        ``event_id`` get a random one, so a retried request stores nothing twice."""
        rows = with_event_ids([dict(i) for i in interactions])
        result: m.BulkResult = await self._run(
            Call("POST", "/api/v1/interactions/bulk", m.BulkResult.from_dict,
                 json={"interactions": rows}, tenant_id=tenant_id, idempotent=True)
        )
        return result

    async def import_interactions(
        self,
        interactions: Iterable[Mapping[str, Any]],
        *,
        chunk_size: Optional[int] = None,
        progress: Optional[ProgressCallback] = None,
        progress_bar: Optional[bool] = None,
        tenant_id: Optional[str] = None,
    ) -> m.BulkResult:
        """As ``import_entities``, for interactions."""
        return await self._import_in_chunks(
            interactions, self.bulk_record_interactions, "interactions", chunk_size, progress, progress_bar, tenant_id
        )

    async def export_interactions(self, *, tenant_id: Optional[str] = None) -> AsyncIterator[JSON]:
        """Every interaction of the tenant, oldest first, streamed (NDJSON)."""
        async for line in self._lines(Call("GET", "/api/v1/interactions/export", nothing, tenant_id=tenant_id)):
            yield json.loads(line)

    async def export(self, what: str = "all", *, tenant_id: Optional[str] = None) -> AsyncIterator[JSON]:
        """``"entities"``, ``"interactions"`` or ``"all"`` (entities, then interactions),
        streamed one dict at a time; the output of ``"all"`` can be re-imported."""
        if what not in ("all", "entities", "interactions"):
            raise ValueError("what must be 'all', 'entities' or 'interactions'")
        if what in ("all", "entities"):
            async for row in self.export_entities(tenant_id=tenant_id):
                yield row
        if what in ("all", "interactions"):
            async for row in self.export_interactions(tenant_id=tenant_id):
                yield row

    # -------------------------------------------------------- interaction types

    async def list_interaction_types(self, *, tenant_id: Optional[str] = None) -> List[m.InteractionType]:
        """Built-in and custom interaction types."""
        result: List[m.InteractionType] = await self._run(
            Call("GET", "/api/v1/interaction-types", _list_of(m.InteractionType), tenant_id=tenant_id)
        )
        return result

    async def create_interaction_type(
        self,
        *,
        interaction_type: str,
        default_weight: float,
        description: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> m.InteractionType:
        """Register a custom interaction type."""
        body: JSON = {"interaction_type": interaction_type, "default_weight": default_weight}
        if description is not None:
            body["description"] = description
        result: m.InteractionType = await self._run(
            Call("POST", "/api/v1/interaction-types", m.InteractionType.from_dict, json=body, tenant_id=tenant_id)
        )
        return result

    async def get_interaction_type(
        self, *, interaction_type: str, tenant_id: Optional[str] = None
    ) -> m.InteractionType:
        result: m.InteractionType = await self._run(
            Call("GET", f"/api/v1/interaction-types/{interaction_type}", m.InteractionType.from_dict,
                 tenant_id=tenant_id)
        )
        return result

    async def update_interaction_type(
        self,
        *,
        interaction_type: str,
        weight: float,
        description: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> m.InteractionType:
        """Change a type's weight (built-in types too)."""
        body: JSON = {"weight": weight}
        if description is not None:
            body["description"] = description
        result: m.InteractionType = await self._run(
            Call("PUT", f"/api/v1/interaction-types/{interaction_type}", m.InteractionType.from_dict,
                 json=body, tenant_id=tenant_id)
        )
        return result

    async def delete_interaction_type(self, *, interaction_type: str, tenant_id: Optional[str] = None) -> None:
        """Delete a custom type no interaction uses (409 otherwise)."""
        await self._run(
            Call("DELETE", f"/api/v1/interaction-types/{interaction_type}", nothing, tenant_id=tenant_id)
        )

    # ---------------------------------------------------------- recommendations

    async def get_user_recommendations(
        self,
        *,
        user_id: str,
        count: Optional[int] = 10,
        algorithm: Optional[str] = None,
        entity_type: Optional[str] = None,
        exclude: Optional[Sequence[str]] = None,
        exclude_seen: Optional[bool] = None,
        collaborative_weight: Optional[float] = None,
        content_based_weight: Optional[float] = None,
        filters: Optional[Mapping[str, Any]] = None,
        tenant_id: Optional[str] = None,
    ) -> m.UserRecommendations:
        """Personalised recommendations. ``filters={"category": "audio"}`` sends
        ``filter.category=audio``; ``count=None`` uses the service's default."""
        params: JSON = {
            "count": count, "algorithm": algorithm, "entity_type": entity_type,
            "exclude": exclude, "exclude_seen": exclude_seen,
            "collaborative_weight": collaborative_weight, "content_based_weight": content_based_weight,
        }
        params.update(split_filters(filters))
        result: m.UserRecommendations = await self._run(
            Call("GET", f"/api/v1/recommendations/user/{user_id}", m.UserRecommendations.from_dict,
                 params=params, tenant_id=tenant_id)
        )
        return result

    async def get_similar_entities(
        self,
        *,
        entity_id: str,
        entity_type: Optional[str] = None,
        count: Optional[int] = 10,
        algorithm: Optional[str] = None,
        result_type: Optional[str] = None,
        exclude: Optional[Sequence[str]] = None,
        filters: Optional[Mapping[str, Any]] = None,
        user_id: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> m.SimilarEntities:
        """Entities similar to one entity. ``user_id``: the user the list is shown to
        (places the answer in a running experiment on the similar route)."""
        params: JSON = {
            "entity_type": entity_type, "count": count, "algorithm": algorithm,
            "result_type": result_type, "exclude": exclude, "user_id": user_id,
        }
        params.update(split_filters(filters))
        result: m.SimilarEntities = await self._run(
            Call("GET", f"/api/v1/recommendations/entity/{entity_id}", m.SimilarEntities.from_dict,
                 params=params, tenant_id=tenant_id)
        )
        return result

    async def get_trending(
        self,
        *,
        entity_type: Optional[str] = None,
        count: Optional[int] = 10,
        window_days: Optional[int] = None,
        tenant_id: Optional[str] = None,
    ) -> m.Trending:
        """Entities trending within the last ``window_days`` (service default 7)."""
        result: m.Trending = await self._run(
            Call("GET", "/api/v1/recommendations/trending", m.Trending.from_dict,
                 params={"entity_type": entity_type, "count": count, "window_days": window_days},
                 tenant_id=tenant_id)
        )
        return result

    async def get_model_status(self, *, tenant_id: Optional[str] = None) -> m.ModelStatus:
        """The live model: version, when trained, what it covers."""
        result: m.ModelStatus = await self._run(
            Call("GET", "/api/v1/model/status", m.ModelStatus.from_dict, tenant_id=tenant_id)
        )
        return result

    async def rebuild_model(self, *, incremental: bool = False, tenant_id: Optional[str] = None) -> JSON:
        """Start a full rebuild (or an incremental update) now; answers at once."""
        result: JSON = await self._run(
            Call("POST", "/api/v1/model/rebuild", as_dict,
                 params={"incremental": True if incremental else None}, tenant_id=tenant_id)
        )
        return result

    # ------------------------------------------------------------------ tenancy

    async def get_tenant(self, *, tenant_id: Optional[str] = None) -> m.OwnTenant:
        """The caller's tenant: its settings, effective ones and type weights."""
        result: m.OwnTenant = await self._run(
            Call("GET", "/api/v1/tenant", m.OwnTenant.from_dict, tenant_id=tenant_id)
        )
        return result

    async def list_tenants(self) -> List[m.Tenant]:
        """Registered tenants (administrator key)."""
        result: List[m.Tenant] = await self._run(Call("GET", "/api/v1/admin/tenants", _list_of(m.Tenant)))
        return result

    async def put_tenant(
        self,
        *,
        tenant_id: str,
        name: Optional[str] = None,
        config: Optional[Mapping[str, Any]] = None,
        interaction_type_weights: Optional[Mapping[str, float]] = None,
    ) -> m.Tenant:
        """Register a tenant or replace its name and settings (administrator key)."""
        body: JSON = {"name": name, "config": dict(config or {}),
                      "interaction_type_weights": dict(interaction_type_weights or {})}
        result: m.Tenant = await self._run(
            Call("PUT", f"/api/v1/admin/tenants/{tenant_id}", m.Tenant.from_dict, json=body)
        )
        return result

    async def get_admin_tenant(self, *, tenant_id: str) -> m.Tenant:
        """A registered tenant (administrator key; 404 when unregistered)."""
        result: m.Tenant = await self._run(
            Call("GET", f"/api/v1/admin/tenants/{tenant_id}", m.Tenant.from_dict)
        )
        return result

    async def delete_tenant(self, *, tenant_id: str) -> None:
        """Delete a tenant with all of its data, settings, keys and webhooks."""
        await self._run(Call("DELETE", f"/api/v1/admin/tenants/{tenant_id}", nothing))

    async def create_api_key(self, *, name: Optional[str] = None, tenant_id: Optional[str] = None) -> m.NewApiKey:
        """A new key for ``tenant_id`` (None: an administrator key); ``.key`` is shown once."""
        result: m.NewApiKey = await self._run(
            Call("POST", "/api/v1/admin/api-keys", m.NewApiKey.from_dict,
                 json={"name": name, "tenant_id": tenant_id})
        )
        return result

    async def list_api_keys(self, *, tenant_id: Optional[str] = None) -> List[m.ApiKey]:
        """Keys of one tenant, or all of them without ``tenant_id``."""
        result: List[m.ApiKey] = await self._run(
            Call("GET", "/api/v1/admin/api-keys", _list_of(m.ApiKey), params={"tenant_id": tenant_id})
        )
        return result

    async def delete_api_key(self, *, key_id: str) -> None:
        """Revoke a key."""
        await self._run(Call("DELETE", f"/api/v1/admin/api-keys/{key_id}", nothing))

    # ----------------------------------------------------------------- webhooks

    async def create_webhook(
        self,
        *,
        url: str,
        events: Sequence[str],
        secret: Optional[str] = None,
        active: bool = True,
        description: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> m.NewWebhook:
        """Subscribe ``url`` to ``events`` (``["*"]``: all); ``.secret`` is shown once."""
        body: JSON = {"url": url, "events": list(events), "active": active,
                      "description": description, "secret": secret}
        result: m.NewWebhook = await self._run(
            Call("POST", "/api/v1/webhooks", m.NewWebhook.from_dict, json=body, tenant_id=tenant_id)
        )
        return result

    async def list_webhooks(self, *, tenant_id: Optional[str] = None) -> List[m.Webhook]:
        result: List[m.Webhook] = await self._run(
            Call("GET", "/api/v1/webhooks", _list_of(m.Webhook), tenant_id=tenant_id)
        )
        return result

    async def get_webhook(self, *, webhook_id: str, tenant_id: Optional[str] = None) -> m.Webhook:
        result: m.Webhook = await self._run(
            Call("GET", f"/api/v1/webhooks/{webhook_id}", m.Webhook.from_dict, tenant_id=tenant_id)
        )
        return result

    async def update_webhook(
        self,
        *,
        webhook_id: str,
        url: str,
        events: Sequence[str],
        active: bool = True,
        description: Optional[str] = None,
        secret: Optional[str] = None,
        tenant_id: Optional[str] = None,
    ) -> m.Webhook:
        """Replace URL, events, ``active`` and description (the secret too, when given)."""
        body: JSON = {"url": url, "events": list(events), "active": active,
                      "description": description, "secret": secret}
        result: m.Webhook = await self._run(
            Call("PUT", f"/api/v1/webhooks/{webhook_id}", m.Webhook.from_dict, json=body, tenant_id=tenant_id)
        )
        return result

    async def delete_webhook(self, *, webhook_id: str, tenant_id: Optional[str] = None) -> None:
        await self._run(Call("DELETE", f"/api/v1/webhooks/{webhook_id}", nothing, tenant_id=tenant_id))

    async def list_webhook_deliveries(
        self,
        *,
        webhook_id: str,
        status: Optional[str] = None,
        limit: int = 50,
        offset: int = 0,
        tenant_id: Optional[str] = None,
    ) -> List[m.Delivery]:
        """One page of a subscription's delivery log, newest first."""
        limit, offset = page_params(limit, offset)
        result: List[m.Delivery] = await self._run(
            Call("GET", f"/api/v1/webhooks/{webhook_id}/deliveries", _list_of(m.Delivery),
                 params={"status": status, "limit": limit, "offset": offset}, tenant_id=tenant_id)
        )
        return result

    async def iter_webhook_deliveries(
        self,
        *,
        webhook_id: str,
        status: Optional[str] = None,
        page_size: int = 100,
        tenant_id: Optional[str] = None,
    ) -> AsyncIterator[m.Delivery]:
        """The whole delivery log, newest first, fetched a page at a time."""
        offset = 0
        while True:
            page = await self.list_webhook_deliveries(
                webhook_id=webhook_id, status=status, limit=page_size, offset=offset, tenant_id=tenant_id
            )
            for item in page:
                yield item
            if len(page) < page_size:
                return
            offset += len(page)

    async def retry_webhook_delivery(
        self, *, webhook_id: str, delivery_id: int, tenant_id: Optional[str] = None
    ) -> m.Delivery:
        """Deliver again, with a fresh set of attempts."""
        result: m.Delivery = await self._run(
            Call("POST", f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
                 m.Delivery.from_dict, tenant_id=tenant_id)
        )
        return result

    # -------------------------------------------------------------- experiments

    async def create_experiment(
        self,
        *,
        name: str,
        route: str,
        variants: Sequence[Mapping[str, Any]],
        click_types: Optional[Sequence[str]] = None,
        conversion_types: Optional[Sequence[str]] = None,
        planned_users_per_variant: Optional[int] = None,
        tenant_id: Optional[str] = None,
    ) -> m.Experiment:
        """Create an experiment as a draft. ``route``: "user", "similar" or "both";
        ``variants``: ``{"name", "share", "overrides": {"algorithm", ...}}`` each, shares
        adding up to at most 1 (the rest is the control)."""
        body: JSON = {"name": name, "route": route, "variants": [dict(v) for v in variants]}
        for key, val in (("click_types", click_types), ("conversion_types", conversion_types)):
            if val is not None:
                body[key] = list(val)
        if planned_users_per_variant is not None:
            body["planned_users_per_variant"] = planned_users_per_variant
        result: m.Experiment = await self._run(
            Call("POST", "/api/v1/experiments", m.Experiment.from_dict, json=body, tenant_id=tenant_id)
        )
        return result

    async def list_experiments(self, *, tenant_id: Optional[str] = None) -> List[m.Experiment]:
        result: List[m.Experiment] = await self._run(
            Call("GET", "/api/v1/experiments", _list_of(m.Experiment), tenant_id=tenant_id)
        )
        return result

    async def get_experiment(self, *, experiment_id: str, tenant_id: Optional[str] = None) -> m.Experiment:
        result: m.Experiment = await self._run(
            Call("GET", f"/api/v1/experiments/{experiment_id}", m.Experiment.from_dict, tenant_id=tenant_id)
        )
        return result

    async def start_experiment(self, *, experiment_id: str, tenant_id: Optional[str] = None) -> m.Experiment:
        """Start a draft (409 ``ConflictError`` when another runs on the same route)."""
        result: m.Experiment = await self._run(
            Call("POST", f"/api/v1/experiments/{experiment_id}/start", m.Experiment.from_dict,
                 tenant_id=tenant_id)
        )
        return result

    async def stop_experiment(self, *, experiment_id: str, tenant_id: Optional[str] = None) -> m.Experiment:
        result: m.Experiment = await self._run(
            Call("POST", f"/api/v1/experiments/{experiment_id}/stop", m.Experiment.from_dict,
                 tenant_id=tenant_id)
        )
        return result

    async def get_experiment_results(
        self, *, experiment_id: str, tenant_id: Optional[str] = None
    ) -> m.ExperimentResults:
        """Per-variant figures with 95 % intervals, lifts, p-values and the
        sample-ratio check."""
        result: m.ExperimentResults = await self._run(
            Call("GET", f"/api/v1/experiments/{experiment_id}/results", m.ExperimentResults.from_dict,
                 tenant_id=tenant_id)
        )
        return result

    async def get_online_evaluation(
        self,
        *,
        bucket: str = "hour",
        days: int = 1,
        click_types: Optional[Sequence[str]] = None,
        conversion_types: Optional[Sequence[str]] = None,
        tenant_id: Optional[str] = None,
    ) -> m.OnlineEvaluation:
        """Click-through and conversion by time ("hour" or "day"), route and algorithm."""
        params: JSON = {"bucket": bucket, "days": days}
        if click_types is not None:
            params["click_types"] = list(click_types)
        if conversion_types is not None:
            params["conversion_types"] = list(conversion_types)
        result: m.OnlineEvaluation = await self._run(
            Call("GET", "/api/v1/evaluation/online", m.OnlineEvaluation.from_dict, params=params,
                 tenant_id=tenant_id)
        )
        return result
