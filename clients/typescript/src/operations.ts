/**
 * Which client method serves each operation of the service's OpenAPI document. The
 * type requires an entry for every operation of the generated `paths`, so a route the
 * service adds fails type checking until it has a method (a test also compares the map
 * with the running service's document).
 */
import type { RecommendationClient } from './client.js';
import type { paths } from './generated/schema.js';

type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'patch' | 'head' | 'options' | 'trace';

/** `"GET /api/v1/entities/{entity_id}"` and so on: every operation of the document. */
export type OperationKey = {
  [P in Extract<keyof paths, string>]: {
    [M in HttpMethod]: paths[P][M] extends undefined ? never : `${Uppercase<M>} ${P}`;
  }[HttpMethod];
}[Extract<keyof paths, string>];

/** The names of the client's methods. */
export type ClientMethod = {
  [K in keyof RecommendationClient]: RecommendationClient[K] extends (...args: never[]) => unknown ? K : never;
}[keyof RecommendationClient];

/** Operation -> the client method that sends it. */
export const OPERATIONS: Readonly<Record<OperationKey, ClientMethod>> = {
  'GET /health': 'health',
  'GET /ready': 'ready',
  'GET /metrics': 'getMetrics',
  'GET /api/config': 'getConfig',

  'GET /api/v1/admin/tenants': 'listTenants',
  'GET /api/v1/admin/tenants/{tenant_id}': 'getAdminTenant',
  'PUT /api/v1/admin/tenants/{tenant_id}': 'putTenant',
  'DELETE /api/v1/admin/tenants/{tenant_id}': 'deleteTenant',
  'POST /api/v1/admin/api-keys': 'createApiKey',
  'GET /api/v1/admin/api-keys': 'listApiKeys',
  'DELETE /api/v1/admin/api-keys/{key_id}': 'deleteApiKey',

  'POST /api/v1/entities': 'createEntity',
  'POST /api/v1/entities/bulk': 'bulkCreateEntities',
  'GET /api/v1/entities/export': 'exportEntities',
  'GET /api/v1/entities/{entity_id}': 'getEntity',
  'PUT /api/v1/entities/{entity_id}': 'updateEntity',
  'DELETE /api/v1/entities/{entity_id}': 'deleteEntity',

  'POST /api/v1/interactions': 'recordInteraction',
  'POST /api/v1/interactions/bulk': 'bulkRecordInteractions',
  'GET /api/v1/interactions/export': 'exportInteractions',
  'GET /api/v1/interactions/user/{user_id}': 'listUserInteractions',
  'GET /api/v1/interactions/entity/{entity_id}': 'listEntityInteractions',

  'GET /api/v1/interaction-types': 'listInteractionTypes',
  'POST /api/v1/interaction-types': 'createInteractionType',
  'GET /api/v1/interaction-types/{interaction_type}': 'getInteractionType',
  'PUT /api/v1/interaction-types/{interaction_type}': 'updateInteractionType',
  'DELETE /api/v1/interaction-types/{interaction_type}': 'deleteInteractionType',

  'GET /api/v1/recommendations/user/{user_id}': 'getUserRecommendations',
  'GET /api/v1/recommendations/entity/{entity_id}': 'getSimilarEntities',
  'GET /api/v1/recommendations/trending': 'getTrending',
  'GET /api/v1/model/status': 'getModelStatus',
  'POST /api/v1/model/rebuild': 'rebuildModel',

  'GET /api/v1/tenant': 'getTenant',

  'GET /api/v1/webhooks': 'listWebhooks',
  'POST /api/v1/webhooks': 'createWebhook',
  'GET /api/v1/webhooks/{webhook_id}': 'getWebhook',
  'PUT /api/v1/webhooks/{webhook_id}': 'updateWebhook',
  'DELETE /api/v1/webhooks/{webhook_id}': 'deleteWebhook',
  'GET /api/v1/webhooks/{webhook_id}/deliveries': 'listWebhookDeliveries',
  'POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry': 'retryWebhookDelivery',

  'POST /api/v1/experiments': 'createExperiment',
  'GET /api/v1/experiments': 'listExperiments',
  'GET /api/v1/experiments/{experiment_id}': 'getExperiment',
  'POST /api/v1/experiments/{experiment_id}/start': 'startExperiment',
  'POST /api/v1/experiments/{experiment_id}/stop': 'stopExperiment',
  'GET /api/v1/experiments/{experiment_id}/results': 'getExperimentResults',
  'GET /api/v1/evaluation/online': 'getOnlineEvaluation',
};
