"""Experiments: A/B tests of recommendation settings on live traffic.

An experiment applies to one route ("user" recommendations, "similar" entities, or
"both") and has variants, each with a share of the users and the request settings it
overrides; the users left over are the control, served with the tenant's defaults. It is
created as a draft, started once and stopped once. At most one experiment per route runs
in a tenant at a time ("both" counts for each), so a request meets at most one.

Replicas read the running experiments at most every `RUNNING_CACHE_SECONDS`: a start or
stop reaches every replica within that time (at once on the replica that made it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from recommendation_engine import metrics
from recommendation_engine.engine import experiment_stats
from recommendation_engine.engine.ranking import Algorithm
from recommendation_engine.errors import Conflict, NotFound, ValidationFailed
from recommendation_engine.models import (
    NAME_PATTERN,
    InteractionTypeName,
    JsonInt,
    Number,
    TenantScoped,
    Text,
    effective_weight,
)
from recommendation_engine.service.interaction_types import InteractionTypeService
from recommendation_engine.service.tenants import TenantService
from recommendation_engine.service.ttl_cache import TTLCache
from recommendation_engine.storage import experiments as repo
from recommendation_engine.storage import impressions as impressions_repo
from recommendation_engine.storage.experiments import ExperimentRow

RUNNING_CACHE_SECONDS = 2.0
CONTROL = "control"
DEFAULT_CLICK_TYPES = ("click", "view")
DEFAULT_CONVERSION_TYPES = ("purchase", "add_to_cart")
MAX_VARIANTS = 10
Route = Literal["user", "similar", "both"]
# Share sums are compared with this much slack (0.1 + 0.2 is not 0.3 in floating point).
_EPSILON = 1e-9

VariantName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


class _Strict(BaseModel):
    """JSON as sent: no unknown fields, no numbers in strings, no booleans for numbers."""

    model_config = ConfigDict(extra="forbid")


class Overrides(_Strict):
    """Request settings a variant changes; each one left out follows the request."""

    algorithm: Algorithm | None = None
    collaborative_weight: Number | None = Field(default=None, ge=0, le=1000, allow_inf_nan=False)
    content_based_weight: Number | None = Field(default=None, ge=0, le=1000, allow_inf_nan=False)
    count: JsonInt | None = Field(default=None, ge=1, le=10_000)
    exclude_seen: StrictBool | None = Field(
        default=None, description="Personalised recommendations only"
    )


class VariantInput(_Strict):
    name: VariantName = Field(description=f"Not '{CONTROL}', which names the remainder")
    share: Number = Field(gt=0, le=1, allow_inf_nan=False, description="Fraction of users")
    overrides: Overrides = Field(default_factory=Overrides)


class ExperimentInput(TenantScoped):
    name: Text = Field(min_length=1, max_length=200)
    route: Route = Field(description="user recommendations, similar entities, or both")
    variants: list[VariantInput] = Field(min_length=1, max_length=MAX_VARIANTS)
    click_types: list[InteractionTypeName] = Field(
        default_factory=lambda: list(DEFAULT_CLICK_TYPES), min_length=1, max_length=20
    )
    conversion_types: list[InteractionTypeName] = Field(
        default_factory=lambda: list(DEFAULT_CONVERSION_TYPES), min_length=1, max_length=20
    )
    planned_users_per_variant: JsonInt | None = Field(default=None, ge=1, le=1_000_000_000)


@dataclass(frozen=True, slots=True)
class Running:
    """A running experiment as serving needs it."""

    id: UUID
    salt: str
    names: tuple[str, ...]
    shares: tuple[float, ...]
    overrides: tuple[dict[str, Any], ...]


def _view(row: ExperimentRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "route": row.route,
        "state": row.state,
        "variants": row.variants,
        "control_share": max(0.0, round(1 - sum(v["share"] for v in row.variants), 12)),
        "click_types": list(row.click_types),
        "conversion_types": list(row.conversion_types),
        "planned_users_per_variant": row.planned_users_per_variant,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "stopped_at": row.stopped_at,
    }


def _routes(route: str) -> tuple[str, ...]:
    return ("user", "similar") if route == "both" else (route,)


class ExperimentService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        types: InteractionTypeService,
        tenants: TenantService,
        attribution_window_hours: float,
    ) -> None:
        self._pool = pool
        self._types = types
        self._tenants = tenants
        self.window_seconds = attribution_window_hours * 3600
        self._running: TTLCache[str, dict[str, Running]] = TTLCache(RUNNING_CACHE_SECONDS)
        self._counted: dict[str, set[UUID]] = {}

    # -- managing -------------------------------------------------------------------

    async def create(self, tenant_id: str, data: ExperimentInput) -> dict[str, Any]:
        await self._check(tenant_id, data)
        variants = [v.model_dump(exclude_none=True) for v in data.variants]
        for variant in variants:
            variant.setdefault("overrides", {})
        async with self._pool.acquire() as conn:
            row = await repo.insert(
                conn,
                tenant_id,
                data.name,
                data.route,
                secrets.token_hex(16),
                variants,
                data.click_types,
                data.conversion_types,
                data.planned_users_per_variant,
            )
        return _view(row)

    async def _check(self, tenant_id: str, data: ExperimentInput) -> None:
        """What the schema cannot say: the rules across fields, and those that need the
        tenant's state (its types, its count limit)."""
        _check_variants(data)
        types = await self._types.all(tenant_id)
        unknown = sorted(set(data.click_types + data.conversion_types) - set(types))
        if unknown:
            raise ValidationFailed(
                f"unknown interaction types: {', '.join(unknown)}",
                {"field": "click_types/conversion_types", "unknown": unknown},
            )
        config = await self._tenants.config(tenant_id)
        for index, variant in enumerate(data.variants):
            overrides = variant.overrides
            if overrides.count is not None and overrides.count > config.max_recommendation_count:
                raise ValidationFailed(
                    f"variants[{index}].overrides.count must be at most "
                    f"{config.max_recommendation_count}",
                    {"field": f"variants.{index}.overrides.count"},
                )
            if overrides.collaborative_weight == 0 and overrides.content_based_weight == 0:
                raise ValidationFailed(
                    f"variants[{index}]: collaborative_weight and content_based_weight "
                    "cannot both be 0",
                    {"field": f"variants.{index}.overrides"},
                )

    async def list_experiments(self, tenant_id: str) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            return [_view(row) for row in await repo.list_all(conn, tenant_id)]

    async def get(self, tenant_id: str, experiment_id: UUID) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            return _view(await self._row(conn, tenant_id, experiment_id))

    async def _row(
        self, conn: asyncpg.Connection, tenant_id: str, experiment_id: UUID
    ) -> ExperimentRow:
        row = await repo.get(conn, tenant_id, experiment_id)
        if row is None:
            raise NotFound(
                f"experiment '{experiment_id}' does not exist", {"id": str(experiment_id)}
            )
        return row

    async def start(self, tenant_id: str, experiment_id: UUID) -> dict[str, Any]:
        return await self._move(tenant_id, experiment_id, "draft", "running")

    async def stop(self, tenant_id: str, experiment_id: UUID) -> dict[str, Any]:
        return await self._move(tenant_id, experiment_id, "running", "stopped")

    async def _move(
        self, tenant_id: str, experiment_id: UUID, source: str, target: str
    ) -> dict[str, Any]:
        """Move an experiment from state ``source`` to ``target``: one change at a time
        per tenant, and a start only where no other experiment runs on its routes."""
        async with self._pool.acquire() as conn, conn.transaction():
            await repo.lock_tenant(conn, tenant_id)
            row = await self._row(conn, tenant_id, experiment_id)
            if row.state != source:
                raise Conflict(
                    f"experiment is {row.state}: only a {source} experiment can be made {target}",
                    {"state": row.state},
                )
            if target == "running":
                await self._check_routes_free(conn, tenant_id, row)
            row = await repo.set_state(conn, tenant_id, experiment_id, target)
        self._running.pop(tenant_id)
        return _view(row)

    async def _check_routes_free(
        self, conn: asyncpg.Connection, tenant_id: str, row: ExperimentRow
    ) -> None:
        routes = set(_routes(row.route))
        for other in await repo.running(conn, tenant_id):
            if routes & set(_routes(other.route)):
                raise Conflict(
                    f"experiment '{other.name}' is running on the same route; "
                    "stop it first (one experiment per route at a time)",
                    {"running": str(other.id)},
                )

    # -- serving --------------------------------------------------------------------

    async def running(self, tenant_id: str, route: str) -> Running | None:
        """The experiment running on ``route`` ("user" or "similar"), if any."""
        found = self._running.get(tenant_id)
        if found is None:
            found = await self._running.get_or_load(tenant_id, lambda: self._load(tenant_id))
        return found.get(route)

    async def _load(self, tenant_id: str) -> dict[str, Running]:
        async with self._pool.acquire() as conn:
            rows = await repo.running(conn, tenant_id)
        by_route: dict[str, Running] = {}
        for row in rows:
            running = Running(
                row.id,
                row.salt,
                tuple(v["name"] for v in row.variants),
                tuple(float(v["share"]) for v in row.variants),
                tuple(v.get("overrides", {}) for v in row.variants),
            )
            for route in _routes(row.route):
                by_route[route] = running
        self._forget_stopped_series(tenant_id, {r.id for r in rows})
        return by_route

    def _forget_stopped_series(self, tenant_id: str, running: set[UUID]) -> None:
        """Remove the per-variant metric series of experiments no longer running."""
        counted = self._counted.setdefault(tenant_id, set())
        for gone in counted - running:
            for labels in list(metrics.EXPERIMENT_IMPRESSIONS._metrics):
                if labels[0] == tenant_id and labels[1] == str(gone):
                    metrics.EXPERIMENT_IMPRESSIONS.remove(*labels)
        self._counted[tenant_id] = set(running)

    # -- results --------------------------------------------------------------------

    async def results(self, tenant_id: str, experiment_id: UUID) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await self._row(conn, tenant_id, experiment_id)
            data = await impressions_repo.experiment_data(
                conn,
                tenant_id,
                experiment_id,
                self.window_seconds,
                list(row.click_types) + list(row.conversion_types),
            )
        types = await self._types.all(tenant_id)
        weights = {name: kind.default_weight for name, kind in types.items()}
        arms = _arms(row, data, weights)
        report = experiment_stats.compare(arms, row.planned_users_per_variant)
        return {
            "experiment": _view(row),
            "baseline": arms[0].name,
            "attribution_window_hours": self.window_seconds / 3600,
            **report,
        }


def _arms(
    row: ExperimentRow, data: impressions_repo.ExperimentData, weights: dict[str, float]
) -> list[experiment_stats.Arm]:
    """The arms' per-user arrays: the control first (when it has a share), then each
    variant in its order."""
    control_share = 1 - sum(v["share"] for v in row.variants)
    names = [v["name"] for v in row.variants]
    shares = [float(v["share"]) for v in row.variants]
    if control_share > _EPSILON:
        names, shares = [CONTROL, *names], [control_share, *shares]
    users: dict[str, dict[str, int]] = {name: {} for name in names}
    for record in data.users:
        if record["variant"] in users:
            arm = users[record["variant"]]
            arm[record["user_id"]] = len(arm)
    size = {name: len(users[name]) for name in names}
    figures = {
        name: {key: np.zeros(size[name], np.int64) for key in ("imp", "clicked", "c", "v")}
        for name in names
    }
    value = {name: np.zeros(size[name]) for name in names}
    for record in data.users:
        if record["variant"] in users:
            figures[record["variant"]]["imp"][users[record["variant"]][record["user_id"]]] = record[
                "impressions"
            ]
    clicks, conversions = set(row.click_types), set(row.conversion_types)
    clicked: set[tuple[str, str, UUID]] = set()
    for record in data.attributed:
        arm_name, user = record["variant"], record["user_id"]
        place = users.get(arm_name, {}).get(user)
        if place is None:
            continue
        kind = record["interaction_type"]
        if kind in clicks:
            figures[arm_name]["c"][place] += 1
            clicked.add((arm_name, user, record["rid"]))
        elif kind in conversions:
            figures[arm_name]["v"][place] += 1
        weight = effective_weight(record["weight"], record["value"], weights.get(kind))
        value[arm_name][place] += weight or 0.0
    for arm_name, user, _ in clicked:
        figures[arm_name]["clicked"][users[arm_name][user]] += 1
    return [
        experiment_stats.Arm(
            name,
            share,
            figures[name]["imp"],
            figures[name]["clicked"],
            figures[name]["c"],
            figures[name]["v"],
            value[name],
        )
        for name, share in zip(names, shares, strict=True)
    ]


def _check_variants(data: ExperimentInput) -> None:
    names = [v.name for v in data.variants]
    if CONTROL in names:
        raise ValidationFailed(
            f"no variant may be named '{CONTROL}': it names the users no variant takes",
            {"field": "variants.name"},
        )
    if len(set(names)) != len(names):
        raise ValidationFailed("variant names must be distinct", {"field": "variants.name"})
    if sum(v.share for v in data.variants) > 1 + _EPSILON:
        raise ValidationFailed(
            "variant shares must add up to at most 1", {"field": "variants.share"}
        )
    if set(data.click_types) & set(data.conversion_types):
        raise ValidationFailed(
            "an interaction type cannot count as both click and conversion",
            {"field": "click_types/conversion_types"},
        )
