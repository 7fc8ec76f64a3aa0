"""Official Python client of the recommendation-engine service.

    from recommendation_client import RecommendationClient

    with RecommendationClient("http://localhost:8080", api_key="...") as client:
        client.create_entity(entity_id="p-1", entity_type="product", attributes={"category": "audio"})
"""

from ._base import __version__
from .async_client import AsyncRecommendationClient
from .client import RecommendationClient
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RecommendationError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
    WebhookVerificationError,
)
from .models import (
    ApiKey,
    BulkResult,
    Delivery,
    Entity,
    EntityRef,
    Interaction,
    InteractionType,
    ModelStatus,
    NewApiKey,
    NewWebhook,
    OwnTenant,
    Recommendation,
    RowError,
    SimilarEntities,
    Tenant,
    TenantConfig,
    Trending,
    UserRecommendations,
    Webhook,
    WebhookEvent,
)
from .webhooks import sign_webhook, verify_webhook

__all__ = [
    "__version__",
    "RecommendationClient",
    "AsyncRecommendationClient",
    "verify_webhook",
    "sign_webhook",
    "RecommendationError",
    "APIConnectionError",
    "APITimeoutError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "ValidationError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "WebhookVerificationError",
    "ApiKey",
    "BulkResult",
    "Delivery",
    "Entity",
    "EntityRef",
    "Interaction",
    "InteractionType",
    "ModelStatus",
    "NewApiKey",
    "NewWebhook",
    "OwnTenant",
    "Recommendation",
    "RowError",
    "SimilarEntities",
    "Tenant",
    "TenantConfig",
    "Trending",
    "UserRecommendations",
    "Webhook",
    "WebhookEvent",
]
