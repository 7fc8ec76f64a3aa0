"""The synchronous client against the real service."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from conftest import Service, free_port
from recommendation_client import (
    AuthenticationError,
    BadRequestError,
    BulkResult,
    ConflictError,
    Entity,
    NotFoundError,
    PermissionDeniedError,
    RecommendationClient,
    ValidationError,
    verify_webhook,
)


@pytest.fixture
def client(service: Service) -> Any:
    with RecommendationClient(service.url, api_key=service.api_key) as c:
        yield c


def test_entity_round_trip(client: RecommendationClient, unique: str) -> None:
    created = client.create_entity(
        entity_id=f"{unique}-p1", entity_type="product", attributes={"category": "audio", "price": 9.5}
    )
    assert isinstance(created, Entity)
    assert created.entity_id == f"{unique}-p1" and created.tenant_id == "default"
    assert created.attributes == {"category": "audio", "price": 9.5}
    assert len(created.feature_vector) > 0
    got = client.get_entity(entity_id=f"{unique}-p1", entity_type="product")
    assert got.attributes == created.attributes
    updated = client.update_entity(entity_id=f"{unique}-p1", attributes={"category": "video"})
    assert updated.attributes == {"category": "video"}
    client.delete_entity(entity_id=f"{unique}-p1", entity_type="product")
    with pytest.raises(NotFoundError) as caught:
        client.get_entity(entity_id=f"{unique}-p1", entity_type="product")
    error = caught.value
    assert error.status == 404 and error.code == "not_found"
    assert error.request_id and error.details == {"entity_id": f"{unique}-p1", "entity_type": "product"}
    assert f"{unique}-p1" in error.message


def test_errors_map_to_exceptions(client: RecommendationClient, service: Service, unique: str) -> None:
    client.create_entity(entity_id=f"{unique}-e", entity_type="product")
    with pytest.raises(ConflictError) as conflict:
        client.create_entity(entity_id=f"{unique}-e", entity_type="product")
    assert conflict.value.status == 409 and conflict.value.code == "conflict"
    assert conflict.value.request_id
    with pytest.raises(ValidationError) as invalid:
        client.create_entity(entity_id="has space", entity_type="product")
    assert invalid.value.status == 422 and invalid.value.details
    with pytest.raises(BadRequestError):
        client.get_user_recommendations(user_id="u", count=100000)
    with RecommendationClient(service.url, api_key="wrong") as bad:
        with pytest.raises(AuthenticationError) as unauthorized:
            bad.get_tenant()
        assert unauthorized.value.status == 401 and unauthorized.value.request_id
    tenant_key = client.create_api_key(name="scoped", tenant_id=f"{unique}-t")
    with RecommendationClient(service.url, api_key=tenant_key.key) as scoped:
        with pytest.raises(PermissionDeniedError) as forbidden:
            scoped.list_tenants()
        assert forbidden.value.status == 403
    # Request ids the client sends are not required: the service makes one.
    assert "request" in str(conflict.value)


def test_interactions_idempotent_and_paginated(client: RecommendationClient, unique: str) -> None:
    client.create_entity(entity_id=f"{unique}-p", entity_type="product")
    first = client.record_interaction(
        user_id=f"{unique}-u", entity_id=f"{unique}-p", entity_type="product",
        interaction_type="view", metadata={"source": "sdk"},
    )
    assert first.event_id  # filled in by the client
    again = client.record_interaction(
        user_id=f"{unique}-u", entity_id=f"{unique}-p", interaction_type="view",
        event_id=first.event_id,
    )
    assert again.id == first.id  # the same event is stored once
    for i in range(6):
        client.record_interaction(
            user_id=f"{unique}-u", entity_id=f"{unique}-p", interaction_type="rating", value=float(i)
        )
    page = client.list_user_interactions(user_id=f"{unique}-u", limit=3)
    assert len(page) == 3
    everything = list(client.iter_user_interactions(user_id=f"{unique}-u", page_size=2))
    assert len(everything) == 7 and len({i.id for i in everything}) == 7
    by_entity = list(client.iter_entity_interactions(entity_id=f"{unique}-p", page_size=3))
    assert {i.id for i in by_entity} == {i.id for i in everything}
    with pytest.raises(NotFoundError):
        client.record_interaction(user_id="u", entity_id=f"{unique}-missing", interaction_type="view")


def test_import_chunks_and_merges_reports(client: RecommendationClient, unique: str) -> None:
    rows = [{"entity_id": f"{unique}-{i}", "entity_type": "product", "attributes": {"n": i}} for i in range(10)]
    rows[4] = {"entity_id": "bad id", "entity_type": "product"}
    rows[8] = {"entity_type": "product"}
    calls: list[tuple[int, int]] = []
    report = client.import_entities(
        iter(rows), chunk_size=3, progress=lambda done, r: calls.append((done, r.received)),
        progress_bar=False,
    )
    assert isinstance(report, BulkResult)
    assert (report.received, report.created, report.failed) == (10, 8, 2)
    assert [e.index for e in report.errors] == [4, 8]  # global indexes, not per chunk
    assert all(e.reason == "invalid" for e in report.errors)
    assert calls == [(3, 3), (6, 6), (9, 9), (10, 10)]
    # the original clients' job fields, merged too
    assert (report.successful, report.total_records, report.status) == (8, 10, "partial")
    assert report.job_id and [e.entity_id for e in report.errors] == ["bad id", None]

    interactions = [
        {"user_id": f"{unique}-u{i % 3}", "entity_id": f"{unique}-{i}", "interaction_type": "view"}
        for i in range(10)
    ]
    interactions[4]["entity_id"] = f"{unique}-4-absent"
    report = client.import_interactions(interactions, chunk_size=4, progress_bar=False)
    assert (report.received, report.created, report.failed) == (10, 8, 2)
    assert [(e.index, e.reason) for e in report.errors] == [(4, "unknown_entity"), (8, "unknown_entity")]
    assert [e.user_id for e in report.errors] == [f"{unique}-u1", f"{unique}-u2"]
    # Rows without an event_id got one from the client (so its own retries are safe) ...
    stored = list(client.iter_user_interactions(user_id=f"{unique}-u0"))
    assert stored and all(i.event_id for i in stored)
    # ... and rows with one are stored once, however often they are sent.
    with_ids = [dict(row, event_id=f"{unique}-ev{i}") for i, row in enumerate(interactions)]
    first = client.import_interactions(with_ids, chunk_size=4, progress_bar=False)
    again = client.import_interactions(with_ids, chunk_size=4, progress_bar=False)
    assert (first.created, again.created, again.skipped) == (8, 0, 8)


def test_export_streams_ndjson(client: RecommendationClient, service: Service) -> None:
    tenant = f"export-{uuid.uuid4().hex[:8]}"
    client.import_entities(
        [{"entity_id": f"e{i}", "entity_type": "item"} for i in range(25)], tenant_id=tenant,
        progress_bar=False,
    )
    client.record_interaction(user_id="u", entity_id="e1", interaction_type="like", tenant_id=tenant)
    stream = client.export_entities(tenant_id=tenant)
    first = next(stream)  # lazily: one row read, the rest still on the wire
    assert first["entity_type"] == "item"
    rest = list(stream)
    assert len(rest) == 24
    rows = list(client.export(tenant_id=tenant))
    assert len(rows) == 26 and rows[-1]["user_id"] == "u"
    assert list(client.export("interactions", tenant_id=f"{tenant}-empty")) == []


def test_tenant_on_client_and_per_call(service: Service, unique: str) -> None:
    with RecommendationClient(service.url, api_key=service.api_key, tenant_id=f"{unique}-a") as a:
        a.create_entity(entity_id="shared", entity_type="product", attributes={"who": "a"})
        a.create_entity(entity_id="shared", entity_type="product", attributes={"who": "b"},
                        tenant_id=f"{unique}-b")
        assert a.get_entity(entity_id="shared").attributes == {"who": "a"}
        assert a.get_entity(entity_id="shared", tenant_id=f"{unique}-b").attributes == {"who": "b"}
        assert a.get_entity(entity_id="shared").tenant_id == f"{unique}-a"
        assert a.get_tenant().tenant_id == f"{unique}-a"
        assert a.get_tenant(tenant_id=f"{unique}-b").tenant_id == f"{unique}-b"
        with pytest.raises(NotFoundError):
            a.get_entity(entity_id="shared", tenant_id=f"{unique}-c")


def test_interaction_types_and_recommendations(client: RecommendationClient, unique: str) -> None:
    tenant = f"{unique}-rec"
    names = {t.interaction_type for t in client.list_interaction_types(tenant_id=tenant)}
    assert {"view", "purchase"} <= names
    created = client.create_interaction_type(
        interaction_type="share", default_weight=4.0, description="shared", tenant_id=tenant
    )
    assert created.built_in is False and created.default_weight == 4.0
    assert client.get_interaction_type(interaction_type="share", tenant_id=tenant).description == "shared"
    assert client.update_interaction_type(interaction_type="share", weight=5.0, tenant_id=tenant).default_weight == 5.0
    with pytest.raises(ConflictError):
        client.create_interaction_type(interaction_type="share", default_weight=1, tenant_id=tenant)

    for i in range(6):
        client.create_entity(entity_id=f"p{i}", entity_type="product",
                             attributes={"category": "audio" if i < 3 else "video"}, tenant_id=tenant)
    for u in range(4):
        for i in (0, 1, 2):
            client.record_interaction(user_id=f"u{u}", entity_id=f"p{i}", interaction_type="share",
                                      tenant_id=tenant)
    client.record_interaction(user_id="me", entity_id="p0", interaction_type="view", tenant_id=tenant)
    with pytest.raises(ConflictError):
        client.delete_interaction_type(interaction_type="share", tenant_id=tenant)
    assert client.rebuild_model(tenant_id=tenant)["status"] == "accepted"
    deadline = time.monotonic() + 60
    while (status := client.get_model_status(tenant_id=tenant)).state != "live":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status.version and status.interactions == 13
    recs = client.get_user_recommendations(user_id="me", count=2, tenant_id=tenant)
    assert recs.user_id == "me" and len(recs.recommendations) == 2
    assert {r.entity_id for r in recs.recommendations} <= {"p1", "p2"}
    filtered = client.get_user_recommendations(
        user_id="me", count=5, filters={"category": "video"}, exclude_seen=True, tenant_id=tenant
    )
    assert all(r.attributes["category"] == "video" for r in filtered.recommendations)
    similar = client.get_similar_entities(entity_id="p0", count=3, exclude=["p1"], tenant_id=tenant)
    assert similar.entity_id == "p0" and "p1" not in {r.entity_id for r in similar.recommendations}
    trending = client.get_trending(count=3, entity_type="product", tenant_id=tenant)
    assert trending.count == len(trending.trending) and trending.trending[0].entity_id in {"p0", "p1", "p2"}
    client.create_interaction_type(interaction_type="unused", default_weight=1, tenant_id=tenant)
    client.delete_interaction_type(interaction_type="unused", tenant_id=tenant)
    with pytest.raises(NotFoundError):
        client.get_interaction_type(interaction_type="unused", tenant_id=tenant)


def test_admin_tenants_and_keys(client: RecommendationClient, service: Service, unique: str) -> None:
    tenant = f"{unique}-acme"
    with pytest.raises(NotFoundError):
        client.get_admin_tenant(tenant_id=tenant)
    put = client.put_tenant(tenant_id=tenant, name="Acme", config={"default_recommendation_count": 5},
                            interaction_type_weights={"purchase": 8.0})
    assert put.name == "Acme" and put.effective_config.default_recommendation_count == 5
    assert put.interaction_type_weights["purchase"] == 8.0
    assert client.get_admin_tenant(tenant_id=tenant).name == "Acme"
    assert tenant in {t.tenant_id for t in client.list_tenants()}
    key = client.create_api_key(name="storefront", tenant_id=tenant)
    assert key.key.startswith("rek_") and key.role == "tenant"
    assert [k.id for k in client.list_api_keys(tenant_id=tenant)] == [key.id]
    with RecommendationClient(service.url, api_key=key.key) as scoped:
        own = scoped.get_tenant()
        assert own.tenant_id == tenant and own.registered and own.effective_config.default_recommendation_count == 5
    client.delete_api_key(key_id=key.id)
    with RecommendationClient(service.url, api_key=key.key) as revoked:
        with pytest.raises(AuthenticationError):
            revoked.get_tenant()
    client.delete_tenant(tenant_id=tenant)
    with pytest.raises(NotFoundError):
        client.get_admin_tenant(tenant_id=tenant)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_deliver_verifiable_events(client: RecommendationClient, unique: str) -> None:
    tenant = f"{unique}-hooks"
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        hook = client.create_webhook(url=url, events=["entity.created"], secret="s3cret-value-of-sixteen+",
                                     description="sdk", tenant_id=tenant)
        assert hook.secret == "s3cret-value-of-sixteen+" and hook.active
        assert [h.id for h in client.list_webhooks(tenant_id=tenant)] == [hook.id]
        assert client.get_webhook(webhook_id=hook.id, tenant_id=tenant).url == url
        client.create_entity(entity_id="w1", entity_type="product", attributes={"a": 1}, tenant_id=tenant)
        deadline = time.monotonic() + 30
        while not _Receiver.received:
            assert time.monotonic() < deadline, "no delivery"
            time.sleep(0.1)
        headers, body = _Receiver.received[-1]
        event = verify_webhook(body, headers, "s3cret-value-of-sixteen+")
        assert event.event == "entity.created" and event.tenant_id == tenant
        assert event.data["entities"][0]["entity_id"] == "w1"
        deliveries = list(client.iter_webhook_deliveries(webhook_id=hook.id, page_size=1, tenant_id=tenant))
        assert len(deliveries) == 1
        deadline = time.monotonic() + 10
        while client.list_webhook_deliveries(webhook_id=hook.id, tenant_id=tenant)[0].status != "delivered":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        retried = client.retry_webhook_delivery(webhook_id=hook.id, delivery_id=deliveries[0].id, tenant_id=tenant)
        assert retried.id == deliveries[0].id and retried.status == "pending"
        updated = client.update_webhook(webhook_id=hook.id, url=url, events=["*"], active=False, tenant_id=tenant)
        assert "model.updated" in updated.events and not updated.active
        client.delete_webhook(webhook_id=hook.id, tenant_id=tenant)
        with pytest.raises(NotFoundError):
            client.get_webhook(webhook_id=hook.id, tenant_id=tenant)
    finally:
        server.shutdown()
        server.server_close()


def test_import_draws_a_tqdm_bar_when_tqdm_is_importable(
    client: RecommendationClient, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"entity_id": f"{unique}-{i}", "entity_type": "bar"} for i in range(5)]
    client.import_entities(rows, chunk_size=2)
    err = capsys.readouterr().err
    assert "entities" in err and "5/5" in err
    client.import_entities(rows, chunk_size=2, progress_bar=False)
    assert capsys.readouterr().err == ""


def test_export_is_lazy_and_raises_the_services_errors(service: Service) -> None:
    sent: list[str] = []
    http = httpx.Client(base_url=service.url, headers={"X-API-Key": service.api_key},
                        event_hooks={"request": [lambda r: sent.append(r.url.path)]})
    with RecommendationClient(service.url, http_client=http) as client:
        tenant = f"lazy-{uuid.uuid4().hex[:8]}"
        client.import_entities([{"entity_id": f"e{i}", "entity_type": "x"} for i in range(3000)],
                               tenant_id=tenant, progress_bar=False)
        sent.clear()
        stream = client.export_entities(tenant_id=tenant)
        assert sent == []  # nothing is asked before the first row is wanted
        assert next(stream)["entity_type"] == "x"
        assert sent == ["/api/v1/entities/export"]
        stream.close()  # stopping early closes the response
        assert sum(1 for _ in client.export_entities(tenant_id=tenant)) == 3000
    http.close()
    with RecommendationClient(service.url, api_key="wrong") as bad:
        with pytest.raises(AuthenticationError) as caught:
            next(bad.export("interactions"))
        assert caught.value.request_id


def test_experiments_results_and_online_evaluation(client: RecommendationClient, unique: str) -> None:
    tenant = f"{unique}-exp"
    for i in range(3):
        client.create_entity(entity_id=f"p{i}", entity_type="product", tenant_id=tenant)
    with pytest.raises(ValidationError):
        client.create_experiment(name="too much", route="user",
                                 variants=[{"name": "a", "share": 0.7}, {"name": "b", "share": 0.7}],
                                 tenant_id=tenant)
    experiment = client.create_experiment(
        name="all content", route="user", planned_users_per_variant=10,
        variants=[{"name": "content", "share": 1.0, "overrides": {"algorithm": "content_based"}}],
        tenant_id=tenant,
    )
    assert experiment.state == "draft" and experiment.variants[0].name == "content"
    assert experiment.control_share == 0
    assert client.start_experiment(experiment_id=experiment.id, tenant_id=tenant).state == "running"
    assert [e.id for e in client.list_experiments(tenant_id=tenant)] == [experiment.id]
    recs = client.get_user_recommendations(user_id="u1", tenant_id=tenant)
    assert recs.experiment is not None and recs.experiment.variant == "content"
    assert recs.algorithm == "content_based" and recs.recommendation_id
    similar = client.get_similar_entities(entity_id="p0", user_id="u1", tenant_id=tenant)
    assert similar.experiment is None and similar.recommendation_id != recs.recommendation_id
    client.record_interaction(user_id="u1", entity_id="p0", interaction_type="click",
                              recommendation_id=recs.recommendation_id, tenant_id=tenant)
    deadline = time.monotonic() + 10
    while (results := client.get_experiment_results(experiment_id=experiment.id, tenant_id=tenant)
           ).variants[0].impressions == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert results.baseline == "content" and results.variants[0].users == 1
    assert results.variants[0].lift is None and results.warnings
    stopped = client.stop_experiment(experiment_id=experiment.id, tenant_id=tenant)
    assert stopped.state == "stopped"
    assert client.get_experiment(experiment_id=experiment.id, tenant_id=tenant).stopped_at
    online = client.get_online_evaluation(bucket="day", click_types=["click", "like"], tenant_id=tenant)
    assert online.click_types == ["click", "like"]
    assert {(p.route, p.algorithm) for p in online.series} == {("user", "content_based"), ("similar", "hybrid")}
