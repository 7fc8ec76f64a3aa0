"""Shared domain types, identifier rules and built-in interaction types."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

# Identifiers travel in URL paths, so they exclude '/', whitespace and control characters.
# Not dots alone: `.` and `..` are path segments no URL can carry as an id.
ID_PATTERN = r"^[A-Za-z0-9_.:@+=~-]*[A-Za-z0-9_:@+=~-][A-Za-z0-9_.:@+=~-]*$"
ID_MAX_LENGTH = 255
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]
UserId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]
EntityType = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
InteractionTypeName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
TenantId = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]

_ID_RE = re.compile(ID_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)

ID_RULE = "1-255 characters from A-Z a-z 0-9 and _ . : @ + = ~ -, not dots alone"
NAME_RULE = "1-64 characters from A-Z a-z 0-9 and _ . : -"


def is_valid_id(value: str) -> bool:
    # `$` alone would allow a trailing newline
    return len(value) <= ID_MAX_LENGTH and bool(_ID_RE.fullmatch(value))


def is_valid_name(value: str) -> bool:
    return bool(_NAME_RE.fullmatch(value))


# Built-in interaction types and their default weights. A tenant may override any of
# these weights; a `rating` interaction's weight is the type weight times its value.
BUILT_IN_INTERACTION_TYPES: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "like": 3.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "rating": 1.0,
}


def effective_weight(
    weight: float | None, value: float | None, type_weight: float | None
) -> float | None:
    """What an interaction counts with: its explicit weight, or else its type's weight
    (1 for an unknown type) times its value (1 when absent).

    None when a factor is not a finite number within +-MAX_WEIGHT (a row stored before
    the range was enforced): such an interaction counts for nothing."""
    if weight is not None:
        factors: tuple[float, ...] = (weight,)
    else:
        factors = (
            type_weight if type_weight is not None else 1.0,
            value if value is not None else 1.0,
        )
    if not all(math.isfinite(f) and abs(f) <= MAX_WEIGHT for f in factors):
        return None
    return math.prod(factors)


def effective_weights(
    has_weight: NDArray[np.bool_],
    weights: NDArray[np.float64],
    type_weights: NDArray[np.float64],
    values: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """`effective_weight` of many interactions at once (``weights`` read where
    ``has_weight``, else ``type_weights`` times ``values``), and which are valid: an
    invalid one counts for nothing."""
    first = np.where(has_weight, weights, type_weights)
    second = np.where(has_weight, 1.0, values)
    with np.errstate(invalid="ignore", over="ignore"):
        valid = (np.abs(first) <= MAX_WEIGHT) & (np.abs(second) <= MAX_WEIGHT)
        return np.where(valid, first * second, 0.0), valid


@dataclass(frozen=True, slots=True)
class InteractionType:
    interaction_type: str
    default_weight: float
    built_in: bool
    description: str | None = None


@dataclass(slots=True)
class Entity:
    tenant_id: str
    entity_type: str
    entity_id: str
    attributes: dict[str, Any]
    feature_vector: list[float]
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "tenant_id": self.tenant_id,
            "attributes": self.attributes,
            "feature_vector": self.feature_vector,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class Interaction:
    id: int
    tenant_id: str
    user_id: str
    entity_type: str
    entity_id: str
    interaction_type: str
    weight: float | None
    value: float | None
    metadata: dict[str, Any]
    event_id: str | None
    timestamp: datetime

    def as_dict(self, weight: float | None) -> dict[str, Any]:
        """The interaction as the API shows it, with ``weight`` as given."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "interaction_type": self.interaction_type,
            "weight": weight,
            "value": self.value,
            "metadata": self.metadata,
            "event_id": self.event_id,
            "timestamp": self.timestamp,
            "tenant_id": self.tenant_id,
        }


# ---------------------------------------------------------------------------------------
# Inputs, validated the same way for single and bulk requests: everything PostgreSQL
# would refuse is refused here, so that a request that passes validation can be stored.


# Client vectors are compared by angle, so any scale serves; the vector index holds
# half-precision copies, whose largest finite value is 65,504.
MAX_VECTOR_VALUE = 65_504.0


# Numbers in request bodies are JSON numbers: `true` or "1" is not taken for one (a
# whole number may be written 3.0, as JSON Schema's integers may).
def _json_number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


Number = Annotated[float, Strict()]
# A whole JSON number (5 or 5.0; not true, not "5").
JsonInt = Annotated[int, BeforeValidator(_json_number)]

VectorValue = Annotated[
    Number, Field(ge=-MAX_VECTOR_VALUE, le=MAX_VECTOR_VALUE, allow_inf_nan=False)
]
FeatureVector = list[VectorValue] | None

# Weights (explicit, or an interaction type's) and values lie within +-MAX_WEIGHT, so
# that every sum the trainer and the trending aggregate make stays finite.
MAX_WEIGHT = 1_000_000.0
Weight = Annotated[Number, Field(ge=-MAX_WEIGHT, le=MAX_WEIGHT, allow_inf_nan=False)]

# Interaction timestamps: RFC 3339 text whose year, as written, is 1970 to 2199 (any
# offset; a time without one is UTC). The far ends of the calendar (years 1 and 9999)
# are special values to the database driver, and no event of this service's users
# happened before 1970.
FIRST_YEAR, LAST_YEAR = 1970, 2199
TIMESTAMP_RULE = f"with a year from {FIRST_YEAR} to {LAST_YEAR}"
TIMESTAMP_PATTERN = r"^(?:19[7-9][0-9]|2[01][0-9][0-9])-"


def _text_timestamp(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("timestamp must be RFC 3339 text, such as 2026-11-01T12:00:00Z")
    return value


def _in_time_range(value: datetime) -> datetime:
    """``value`` in UTC (a time without an offset is taken as UTC), if within range."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"timestamp must be {TIMESTAMP_RULE}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


Timestamp = Annotated[
    datetime,
    BeforeValidator(_text_timestamp),
    AfterValidator(_in_time_range),
    Field(json_schema_extra={"pattern": TIMESTAMP_PATTERN}),
]


def text_problem(text: str) -> str | None:
    """What keeps ``text`` from being stored (None when nothing does)."""
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates (U+D800-U+DFFF)"
    return None


def _storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(f"text {problem}")
    return value


# Free text: any characters PostgreSQL can store.
Text = Annotated[str, AfterValidator(_storable_text)]

# Attributes and metadata: JSON objects nested at most this deep, with text PostgreSQL
# can store, finite numbers and integers of at most 64 bits.
MAX_JSON_DEPTH = 32
_INT64 = 2**63


def json_problem(value: Any, depth: int = 1) -> tuple[str, str] | None:
    """The first part of a JSON value that cannot be stored: (where, what is wrong)."""
    if isinstance(value, dict):
        if depth > MAX_JSON_DEPTH:
            return "", f"is nested more than {MAX_JSON_DEPTH} levels deep"
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                return f".{key!r}", f"key {problem}"
            found = json_problem(item, depth + 1)
            if found:
                return f".{key}{found[0]}", found[1]
    elif isinstance(value, list):
        if depth > MAX_JSON_DEPTH:
            return "", f"is nested more than {MAX_JSON_DEPTH} levels deep"
        for index, item in enumerate(value):
            found = json_problem(item, depth + 1)
            if found:
                return f"[{index}]{found[0]}", found[1]
    elif isinstance(value, str):
        problem = text_problem(value)
        if problem:
            return "", problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            return "", "must be a finite number (not NaN, Infinity or beyond 1.8e308)"
    elif isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return "", "must be an integer within 64 bits"
    return None


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    found = json_problem(value)
    if found:
        where, what = found
        raise ValueError(f"value{where} {what}" if where else f"object {what}")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class TenantScoped(_Input):
    """The body of a request acting in one tenant: it may name that tenant, as X-Tenant-ID
    does and under the same rules (the request's tenant is decided before the body)."""

    tenant_id: TenantId | None = Field(
        default=None, description="The same as the X-Tenant-ID header; they must agree"
    )


# `GET /api/v1/entities/export` is the export route, so no entity may use that id.
RESERVED_ENTITY_IDS = frozenset({"export"})


def _not_reserved(value: str) -> str:
    if value in RESERVED_ENTITY_IDS:
        raise ValueError(f"'{value}' is reserved and cannot be used as an entity id")
    return value


class EntityInput(TenantScoped):
    entity_id: Annotated[EntityId, AfterValidator(_not_reserved)]
    entity_type: EntityType
    attributes: JsonObject = Field(default_factory=dict)
    feature_vector: FeatureVector = Field(
        default=None, description="Optional client-computed vector of FEATURE_VECTOR_DIMENSION"
    )


class EntityUpdate(TenantScoped):
    attributes: JsonObject
    feature_vector: FeatureVector = None


def _untag_interaction_type(data: Any) -> Any:
    """The original service's clients send a type as a tagged object: ``{"rating": 4.5}``
    is a rating of value 4.5 and ``{"custom": "share"}`` the custom type ``share``."""
    if not isinstance(data, dict) or not isinstance(data.get("interaction_type"), dict):
        return data
    tagged = data["interaction_type"]
    if len(tagged) != 1:
        raise ValueError('a tagged interaction_type has exactly one key, as {"rating": 4.5}')
    ((tag, content),) = tagged.items()
    data = dict(data)
    if tag == "custom":
        if not isinstance(content, str):
            raise ValueError('{"custom": ...} names the custom type as a string')
        data["interaction_type"] = content
    elif tag == "rating":
        if "value" in data and data["value"] != content:
            raise ValueError("a tagged rating and value disagree")
        data["interaction_type"], data["value"] = "rating", content
    elif content is None or content == {} or content == []:
        data["interaction_type"] = tag  # {"view": null}, as some encoders write a unit type
    else:
        raise ValueError(f"only rating and custom carry a value in a tagged type, not {tag!r}")
    return data


class InteractionInput(TenantScoped):
    user_id: UserId
    entity_id: EntityId
    entity_type: EntityType | None = Field(
        default=None, description="May be omitted when the entity id is unique in the tenant"
    )
    interaction_type: InteractionTypeName = Field(
        description='A built-in or registered type; the tagged forms {"rating": 4.5} (a rating '
        'of that value) and {"custom": "share"} are accepted too'
    )
    weight: Weight | None = Field(
        default=None,
        description="Explicit weight, within +-1,000,000; by default the interaction type's",
    )
    value: Weight | None = Field(
        default=None,
        description="A rating or other magnitude, within +-1,000,000; multiplies the type's weight",
    )
    metadata: JsonObject | None = None
    timestamp: Timestamp | None = Field(
        default=None, description=f"RFC 3339, {TIMESTAMP_RULE}; defaults to now"
    )
    event_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Client id of this event; a retried POST with the same id is not duplicated",
    )
    recommendation_id: UUID | None = Field(
        default=None,
        description="The recommendation answer this interaction responds to (its "
        "recommendation_id); without one it is attributed to the user's latest impression "
        "of the entity within the attribution window",
    )

    _untag = model_validator(mode="before")(_untag_interaction_type)


class InteractionTypeInput(TenantScoped):
    interaction_type: InteractionTypeName
    default_weight: Weight
    description: Text | None = Field(default=None, max_length=500)


class InteractionTypeUpdate(TenantScoped):
    weight: Weight
    description: Text | None = Field(default=None, max_length=500)


class ModelSettingsInput(_Input):
    """Settings of the sequential model that tuning keeps as given (`engine.sequential_knn`)."""

    window: int | None = Field(default=None, ge=1, le=500)
    decay: Number | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    half_life: Number | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    alpha: Number | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    neighbours: int | None = Field(default=None, ge=1, le=2000)
    history: int | None = Field(default=None, ge=1, le=1000)
    backward: Number | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    _are_numbers = field_validator("window", "neighbours", "history", mode="before")(_json_number)


class TenantConfigInput(_Input):
    """A tenant's own settings; each one left out follows the service's environment."""

    auto_tuning: bool | None = Field(
        default=None, description="Tune the model at every full rebuild (AUTO_TUNING)"
    )
    model_settings: ModelSettingsInput | None = Field(
        default=None, description="Sequential model settings tuning keeps as given"
    )

    collaborative_weight: Number | None = Field(default=None, ge=0, allow_inf_nan=False)
    content_based_weight: Number | None = Field(default=None, ge=0, allow_inf_nan=False)
    similarity_threshold: Number | None = Field(default=None, ge=-1, le=1, allow_inf_nan=False)
    default_recommendation_count: int | None = Field(default=None, ge=1, le=10_000)
    max_recommendation_count: int | None = Field(default=None, ge=1, le=10_000)

    _counts_are_numbers = field_validator(
        "default_recommendation_count", "max_recommendation_count", mode="before"
    )(_json_number)


class TenantInput(_Input):
    name: Text | None = Field(default=None, max_length=200)
    config: TenantConfigInput = Field(default_factory=TenantConfigInput)
    interaction_type_weights: dict[InteractionTypeName, Weight] = Field(
        default_factory=dict,
        json_schema_extra={"propertyNames": {"pattern": NAME_PATTERN}},
        description="Weights of interaction types, applied as PUT /api/v1/interaction-types does",
    )


class ApiKeyInput(_Input):
    name: Text | None = Field(default=None, max_length=200)
    tenant_id: TenantId | None = Field(
        default=None, description="The tenant the key is bound to; none for an administrator key"
    )


_PORT = (
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))"
)
_H = "[0-9A-Fa-f]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_IPV6 = "|".join(
    (
        f"(?:{_H}:){{7}}{_H}",
        f"(?:{_H}:){{1,7}}:",
        f"(?:{_H}:){{1,6}}:{_H}",
        *(f"(?:{_H}:){{1,{5 - n}}}(?::{_H}){{1,{n + 2}}}" for n in range(5)),
        f":(?:(?::{_H}){{1,7}}|:)",
        # with an IPv4 address in its last 32 bits
        f"(?:{_H}:){{6}}{_IPV4}",
        f"::(?:[fF]{{4}}(?::0{{1,4}})?:)?{_IPV4}",
        f"(?:{_H}:){{1,4}}:{_IPV4}",
    )
)
WEBHOOK_URL_PATTERN = rf"^https?://(?:[A-Za-z0-9.-]+|\[(?:{_IPV6})\]){_PORT}?(?:[/?#]\S*)?$"

WEBHOOK_EVENTS = (
    "entity.created",
    "entity.updated",
    "entity.deleted",
    "interaction.recorded",
    "model.updated",
)
WebhookEvent = Literal[
    "entity.created",
    "entity.updated",
    "entity.deleted",
    "interaction.recorded",
    "model.updated",
    "*",
]


class WebhookInput(TenantScoped):
    url: Text = Field(
        min_length=1,
        max_length=2000,
        pattern=WEBHOOK_URL_PATTERN,
        description="http:// or https:// URL of the receiver (host name or address, port)",
    )
    events: list[WebhookEvent] = Field(min_length=1, description='Event names, or "*" for all')
    secret: Text | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signing secret; generated when absent (kept when absent on PUT)",
    )
    active: Annotated[bool, Strict()] = True
    description: Text | None = Field(default=None, max_length=500)
