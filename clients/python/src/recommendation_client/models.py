"""Typed answers of the service. Each class names the OpenAPI schema it mirrors in
``__schema__``; fields the service adds later are ignored, missing ones are ``None``."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Type, TypeVar

T = TypeVar("T", bound="Model")

__all__ = [
    "Model",
    "Entity",
    "Interaction",
    "InteractionType",
    "Recommendation",
    "EntityRef",
    "UserRecommendations",
    "SimilarEntities",
    "Trending",
    "RowError",
    "BulkResult",
    "ModelStatus",
    "TenantConfig",
    "Tenant",
    "OwnTenant",
    "ApiKey",
    "NewApiKey",
    "Webhook",
    "NewWebhook",
    "Delivery",
    "WebhookEvent",
    "ExperimentArm",
    "Variant",
    "Experiment",
    "Estimate",
    "Lift",
    "Lifts",
    "VariantResult",
    "SampleRatio",
    "ExperimentResults",
    "OnlinePoint",
    "OnlineEvaluation",
]


@dataclasses.dataclass
class Model:
    __schema__: ClassVar[Optional[str]] = None
    # field name -> model class of its value (or of each item, for a list)
    __nested__: ClassVar[Dict[str, Type[Model]]] = {}

    @classmethod
    def from_dict(cls: Type[T], data: Mapping[str, Any]) -> T:
        values: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = data.get(f.name)
            nested = cls.__nested__.get(f.name)
            if nested is not None and value is not None:
                if isinstance(value, list):
                    value = [nested.from_dict(v) for v in value]
                else:
                    value = nested.from_dict(value)
            values[f.name] = value
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Entity(Model):
    __schema__ = "EntityOut"
    entity_id: str
    entity_type: str
    tenant_id: str
    attributes: Dict[str, Any]
    feature_vector: List[float]
    created_at: str
    updated_at: str


@dataclasses.dataclass
class Interaction(Model):
    __schema__ = "InteractionOut"
    id: int
    user_id: str
    entity_id: str
    entity_type: str
    interaction_type: str
    weight: float
    value: Optional[float]
    metadata: Dict[str, Any]
    event_id: Optional[str]
    timestamp: str
    tenant_id: str


@dataclasses.dataclass
class InteractionType(Model):
    __schema__ = "InteractionTypeOut"
    interaction_type: str
    default_weight: float
    built_in: bool
    description: Optional[str]


@dataclasses.dataclass
class EntityRef(Model):
    entity_type: str
    entity_id: str


@dataclasses.dataclass
class Recommendation(Model):
    __schema__ = "RecommendationOut"
    __nested__ = {"because": EntityRef}
    entity_id: str
    entity_type: str
    score: float
    reason: str
    because: List[EntityRef]
    attributes: Dict[str, Any]


@dataclasses.dataclass
class ExperimentArm(Model):
    """The experiment and variant an answer was served under."""

    __schema__ = "ExperimentArmOut"
    id: str
    variant: str


@dataclasses.dataclass
class UserRecommendations(Model):
    """``recommendation_id`` is this answer's own id: send it with the interactions it
    leads to (``record_interaction(recommendation_id=...)``)."""

    __schema__ = "UserRecommendationsOut"
    __nested__ = {"recommendations": Recommendation, "experiment": ExperimentArm}
    user_id: str
    algorithm: str
    count: int
    recommendations: List[Recommendation]
    cold_start: bool
    model_version: Optional[int]
    generated_at: str
    recommendation_id: str
    experiment: Optional[ExperimentArm]


@dataclasses.dataclass
class SimilarEntities(Model):
    __schema__ = "SimilarOut"
    __nested__ = {"recommendations": Recommendation, "experiment": ExperimentArm}
    entity_id: str
    entity_type: str
    algorithm: str
    count: int
    recommendations: List[Recommendation]
    cold_start: bool
    generated_at: str
    recommendation_id: str
    experiment: Optional[ExperimentArm]


@dataclasses.dataclass
class Trending(Model):
    __schema__ = "TrendingOut"
    __nested__ = {"trending": Recommendation}
    trending: List[Recommendation]
    count: int
    window_days: int
    entity_type: Optional[str]
    generated_at: str
    recommendation_id: str


@dataclasses.dataclass
class RowError(Model):
    __schema__ = "RowErrorOut"
    index: int
    reason: str
    details: Any = None
    error: str = ""
    entity_id: Optional[str] = None
    user_id: Optional[str] = None


@dataclasses.dataclass
class BulkResult(Model):
    """A bulk report; ``errors[i].index`` is the row's position in what was sent
    (for ``import_*``, in the whole iterable)."""

    __schema__ = "BulkResultOut"
    __nested__ = {"errors": RowError}
    received: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: List[RowError] = dataclasses.field(default_factory=list)
    job_id: Optional[str] = None
    status: str = "completed"
    total_records: int = 0
    processed: int = 0
    successful: int = 0

    def merge(self, other: BulkResult, offset: int) -> None:
        """Add ``other`` (a report on rows starting at ``offset``) to this one. A merged
        report's ``job_id`` is that of its first request."""
        self.job_id = self.job_id or other.job_id
        self.received += other.received
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.failed += other.failed
        self.total_records += other.total_records
        self.processed += other.processed
        self.successful += other.successful
        if not self.failed:
            self.status = "completed"
        else:
            self.status = "partial" if self.successful else "failed"
        for e in other.errors:
            self.errors.append(dataclasses.replace(e, index=e.index + offset))


@dataclasses.dataclass
class ModelStatus(Model):
    # The document types this answer as a free object; fields as the README lists them.
    state: str
    building: bool
    version: Optional[int]
    algorithm: Optional[str]
    trained_at: Optional[str]
    base_version: Optional[int]
    last_incremental_update: Optional[str]
    users: int
    entities: int
    interactions: int
    interactions_since_training: int
    # What the live version was built with (the sequential settings and the blend's
    # weights), what its tuning chose and measured, and what the build took.
    settings: Optional[Dict[str, Any]]
    tuning: Optional[Dict[str, Any]]
    build_seconds: Optional[float]


@dataclasses.dataclass
class TenantConfig(Model):
    __schema__ = "TenantConfigOut"
    collaborative_weight: float
    content_based_weight: float
    similarity_threshold: float
    default_recommendation_count: int
    max_recommendation_count: int
    auto_tuning: bool = True
    model_settings: Dict[str, float] = dataclasses.field(default_factory=dict)
    weights_pinned: bool = False


@dataclasses.dataclass
class Tenant(Model):
    __schema__ = "TenantOut"
    __nested__ = {"effective_config": TenantConfig}
    tenant_id: str
    name: Optional[str]
    config: Dict[str, Any]
    effective_config: TenantConfig
    interaction_type_weights: Dict[str, float]
    created_at: str
    updated_at: str


@dataclasses.dataclass
class OwnTenant(Model):
    __schema__ = "OwnTenantOut"
    __nested__ = {"effective_config": TenantConfig}
    tenant_id: str
    registered: bool
    name: Optional[str]
    config: Dict[str, Any]
    effective_config: TenantConfig
    interaction_type_weights: Dict[str, float]
    created_at: Optional[str]
    updated_at: Optional[str]


@dataclasses.dataclass
class ApiKey(Model):
    __schema__ = "ApiKeyOut"
    id: str
    name: Optional[str]
    tenant_id: Optional[str]
    role: str
    prefix: str
    created_at: str


@dataclasses.dataclass
class NewApiKey(ApiKey):
    """A new key; ``key`` is shown this once."""

    __schema__ = "NewApiKeyOut"
    key: str = ""


@dataclasses.dataclass
class Webhook(Model):
    __schema__ = "WebhookOut"
    id: str
    url: str
    events: List[str]
    active: bool
    description: Optional[str]
    created_at: str
    updated_at: str


@dataclasses.dataclass
class NewWebhook(Webhook):
    """A new subscription; ``secret`` is shown this once."""

    __schema__ = "NewWebhookOut"
    secret: str = ""


@dataclasses.dataclass
class Delivery(Model):
    __schema__ = "DeliveryOut"
    id: int
    event_id: int
    event: str
    status: str
    attempts: int
    response_status: Optional[int]
    error: Optional[str]
    created_at: str
    last_attempt_at: Optional[str]
    next_attempt_at: Optional[str]
    delivered_at: Optional[str]


@dataclasses.dataclass
class WebhookEvent(Model):
    """The body of a webhook request."""

    id: int
    event: str
    tenant_id: str
    created_at: str
    data: Dict[str, Any]


@dataclasses.dataclass
class Variant(Model):
    __schema__ = "VariantOut"
    name: str
    share: float
    overrides: Dict[str, Any]


@dataclasses.dataclass
class Experiment(Model):
    """An experiment: ``state`` is draft, running or stopped."""

    __schema__ = "ExperimentOut"
    __nested__ = {"variants": Variant}
    id: str
    name: str
    route: str
    state: str
    variants: List[Variant]
    control_share: float
    click_types: List[str]
    conversion_types: List[str]
    planned_users_per_variant: Optional[int]
    created_at: str
    started_at: Optional[str]
    stopped_at: Optional[str]


@dataclasses.dataclass
class Estimate(Model):
    """A figure with its 95 % confidence interval."""

    __schema__ = "EstimateOut"
    value: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]


@dataclasses.dataclass
class Lift(Model):
    """Relative lift against the baseline, its 95 % interval and p-value."""

    __schema__ = "LiftOut"
    relative: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    p_value: Optional[float]


@dataclasses.dataclass
class Lifts(Model):
    __schema__ = "LiftsOut"
    __nested__ = {"ctr": Lift, "conversion_rate": Lift, "value_per_user": Lift}
    ctr: Lift
    conversion_rate: Lift
    value_per_user: Lift


@dataclasses.dataclass
class VariantResult(Model):
    __schema__ = "VariantResultOut"
    __nested__ = {
        "ctr": Estimate,
        "conversion_rate": Estimate,
        "value_per_user": Estimate,
        "lift": Lifts,
    }
    name: str
    share: float
    users: int
    impressions: int
    clicked_impressions: int
    clicks: int
    conversions: int
    converted_users: int
    ctr: Estimate
    conversion_rate: Estimate
    value_per_user: Estimate
    lift: Optional[Lifts]


@dataclasses.dataclass
class SampleRatio(Model):
    __schema__ = "SampleRatioOut"
    p_value: Optional[float]
    flagged: bool


@dataclasses.dataclass
class ExperimentResults(Model):
    __schema__ = "ExperimentResultsOut"
    __nested__ = {
        "experiment": Experiment,
        "variants": VariantResult,
        "sample_ratio_mismatch": SampleRatio,
    }
    experiment: Experiment
    baseline: str
    attribution_window_hours: float
    variants: List[VariantResult]
    sample_ratio_mismatch: SampleRatio
    planned_users_per_variant: Optional[int]
    planned_sample_reached: bool
    warnings: List[str]


@dataclasses.dataclass
class OnlinePoint(Model):
    __schema__ = "OnlinePointOut"
    __nested__ = {"ctr": Estimate, "conversion_rate": Estimate}
    time: str
    route: str
    algorithm: str
    impressions: int
    clicked_impressions: int
    converted_impressions: int
    ctr: Estimate
    conversion_rate: Estimate


@dataclasses.dataclass
class OnlineEvaluation(Model):
    __schema__ = "OnlineEvaluationOut"
    __nested__ = {"series": OnlinePoint}
    bucket: str
    since: str
    click_types: List[str]
    conversion_types: List[str]
    attribution_window_hours: float
    series: List[OnlinePoint]
