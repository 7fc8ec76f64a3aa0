/**
 * The types of the client's arguments and answers. Answers are the service's JSON
 * objects as they arrive (snake_case fields), typed with the types generated from its
 * OpenAPI document (src/generated/schema.ts); arguments are camelCase.
 */
import type { MergedBulkResult } from './bulk.js';
import type { components, paths } from './generated/schema.js';

type Schemas = components['schemas'];
type Method = 'get' | 'put' | 'post' | 'delete';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
/** The query parameters of an operation, as the service's document declares them. */
type Query<P extends keyof paths, M extends Method> = NonNullable<
  Operation<P, M> extends { parameters: { query?: infer Q } } ? Q : never
>;

// ------------------------------------------------------------------ answers

export type Entity = Schemas['EntityOut'];
export type Interaction = Schemas['InteractionOut'];
export type InteractionType = Schemas['InteractionTypeOut'];
/** A bulk report; `errors[i].index` is the row's position in what was sent (for `import*`, in the whole input). */
export type BulkResult = Schemas['BulkResultOut'];
export type RowError = Schemas['RowErrorOut'];
export type Recommendation = Schemas['RecommendationOut'];
export type UserRecommendations = Schemas['UserRecommendationsOut'];
export type SimilarEntities = Schemas['SimilarOut'];
export type Trending = Schemas['TrendingOut'];
export type OwnTenant = Schemas['OwnTenantOut'];
export type Tenant = Schemas['TenantOut'];
export type TenantConfig = Schemas['TenantConfigOut'];
export type ApiKey = Schemas['ApiKeyOut'];
/** A new API key: `key` is shown this once. */
export type NewApiKey = Schemas['NewApiKeyOut'];
export type Webhook = Schemas['WebhookOut'];
/** A new webhook subscription: `secret` is shown this once. */
export type NewWebhook = Schemas['NewWebhookOut'];
export type Delivery = Schemas['DeliveryOut'];
export type ExperimentArm = Schemas['ExperimentArmOut'];
export type Experiment = Schemas['ExperimentOut'];
export type ExperimentResults = Schemas['ExperimentResultsOut'];
export type VariantResult = Schemas['VariantResultOut'];
export type Estimate = Schemas['EstimateOut'];
export type Lift = Schemas['LiftOut'];
export type OnlineEvaluation = Schemas['OnlineEvaluationOut'];
export type OnlinePoint = Schemas['OnlinePointOut'];
/** The service's error body. */
export type ErrorResponse = Schemas['ErrorResponse'];

// The document types these answers as free objects; their fields as the service's README lists them.

/** GET /health. */
export interface Health {
  status: string;
  version?: string;
  [field: string]: unknown;
}

/** GET /ready. */
export interface Readiness {
  status: string;
  checks?: Record<string, string>;
  [field: string]: unknown;
}

/** GET /api/v1/model/status: the live model and any build in progress. */
export interface ModelStatus {
  state: string;
  building: boolean;
  version: number | null;
  algorithm: string | null;
  trained_at: string | null;
  base_version: number | null;
  last_incremental_update: string | null;
  users: number;
  entities: number;
  interactions: number;
  interactions_since_training: number;
  /** The live version's settings: the sequential model's and the blend's weights. */
  settings: { sequential: Record<string, number>; weights: Record<string, number> } | null;
  /** What the live version's tuning chose and measured; null when it was not tuned. */
  tuning: Record<string, unknown> | null;
  /** What the full build took besides its tuning, in seconds. */
  build_seconds: number | null;
  [field: string]: unknown;
}

/** POST /api/v1/model/rebuild. */
export interface RebuildAccepted {
  status: string;
  message?: string;
  [field: string]: unknown;
}

/** GET /api/config: the service's effective configuration, secrets masked. */
export type ServiceConfig = Record<string, unknown>;

/** An interaction as exported: the fields of {@link Interaction}, but `weight` is the explicit weight given, if any. */
export type ExportedInteraction = Omit<Interaction, 'weight'> & { weight: number | null };

/** A row of an export: an entity or an interaction. */
export type ExportRow = Entity | ExportedInteraction;

/** The body of a webhook request the service sends. */
export interface WebhookEvent {
  /** The event's id (deliveries of the same event share it). */
  id: number;
  /** `entity.created`, `interaction.recorded`, ... */
  event: string;
  tenant_id: string;
  created_at: string;
  data: Record<string, unknown>;
}

// ---------------------------------------------------------------- arguments

type Attributes = Record<string, unknown>;

/** `createEntity`'s argument. */
export interface EntityInput {
  entityId: string;
  entityType: string;
  attributes?: Attributes;
  /** A vector of the service's FEATURE_VECTOR_DIMENSION numbers. */
  featureVector?: readonly number[];
}

/** `updateEntity`'s argument. */
export interface EntityUpdate {
  /** The new attributes (they replace the old ones). */
  attributes: Attributes;
  featureVector?: readonly number[];
  /** Needed only when the id names entities of several types. */
  entityType?: string;
}

/** `recordInteraction`'s argument. */
export interface InteractionInput {
  userId: string;
  entityId: string;
  interactionType: string;
  /** May be left out when the entity id is unique in the tenant. */
  entityType?: string;
  value?: number;
  /** An explicit weight; by default the interaction type's (times `value`). */
  weight?: number;
  /** When it happened: a Date or RFC 3339 text (default: now). */
  timestamp?: string | Date;
  /** An id of your own; the service stores an interaction with a known id once. A random one is sent when left out. */
  eventId?: string;
  metadata?: Record<string, unknown>;
  /** The `recommendationId` of the answer this interaction responds to (for experiments and online evaluation). */
  recommendationId?: string;
}

/** A row of `bulkCreateEntities`/`importEntities`: camelCase as for `createEntity`, or the service's snake_case fields. */
export type EntityRow = EntityInput | Schemas['EntityInput'];

/** A row of `bulkRecordInteractions`/`importInteractions`: camelCase as for `recordInteraction`, or the service's snake_case fields. */
export type InteractionRow = InteractionInput | Schemas['InteractionInput'];

/** `createInteractionType`'s argument. */
export interface InteractionTypeInput {
  interactionType: string;
  defaultWeight: number;
  description?: string;
}

/** `updateInteractionType`'s argument. */
export interface InteractionTypeUpdate {
  weight: number;
  description?: string;
}

/** Attribute filters: `{ category: 'audio' }` is sent as `filter.category=audio`; arrays comma-separated. */
export type Filters = Record<string, string | number | boolean | readonly (string | number)[]>;

type UserRecommendationsQuery = Query<'/api/v1/recommendations/user/{user_id}', 'get'>;
type SimilarQuery = Query<'/api/v1/recommendations/entity/{entity_id}', 'get'>;

/** `getUserRecommendations`' parameters; each left out takes the service's (tenant's) default. */
export interface UserRecommendationsParams {
  count?: number;
  algorithm?: NonNullable<UserRecommendationsQuery['algorithm']>;
  entityType?: string;
  /** Entity ids to leave out. */
  exclude?: readonly string[];
  /** Leave out what the user has interacted with already. */
  excludeSeen?: boolean;
  collaborativeWeight?: number;
  contentBasedWeight?: number;
  filters?: Filters;
}

/** `getSimilarEntities`' parameters. */
export interface SimilarEntitiesParams {
  entityType?: string;
  count?: number;
  algorithm?: NonNullable<SimilarQuery['algorithm']>;
  /** The type of entities to return (default: the entity's own). */
  resultType?: string;
  exclude?: readonly string[];
  filters?: Filters;
  /** The user the list is shown to: places the answer in a running experiment on the similar route. */
  userId?: string;
}

/** `getTrending`'s parameters. */
export interface TrendingParams {
  entityType?: string;
  count?: number;
  /** Days to look back (service default 7). */
  windowDays?: number;
}

/** One page of a listing. */
export interface PageParams {
  /** 1 to 1000 (default 50). */
  limit?: number;
  offset?: number;
}

/** An iterator over every page of a listing. */
export interface IterateParams {
  /** Rows per request, 1 to 1000 (default 100). */
  pageSize?: number;
}

/** `createWebhook`'s argument. */
export interface WebhookInput {
  /** Where the service POSTs events. */
  url: string;
  /** Event names, or `['*']` for all. */
  events: readonly string[];
  /** The signing secret; the service makes one when left out (returned once, by createWebhook). */
  secret?: string;
  /** Default true. */
  active?: boolean;
  description?: string;
}

/** `updateWebhook`'s argument: replaces url, events, active and description (and the secret, when given). */
export type WebhookUpdate = WebhookInput;

/** A delivery's status, to filter the delivery log by. */
export type DeliveryStatus = Delivery['status'];

/** A tenant's own settings (each left out follows the service's environment). */
export interface TenantConfigInput {
  collaborativeWeight?: number;
  contentBasedWeight?: number;
  similarityThreshold?: number;
  defaultRecommendationCount?: number;
  maxRecommendationCount?: number;
}

/** `putTenant`'s argument. */
export interface TenantInput {
  name?: string;
  config?: TenantConfigInput;
  /** Weights of interaction types in this tenant, as `updateInteractionType` sets them. */
  interactionTypeWeights?: Record<string, number>;
}

/** `createApiKey`'s argument. */
export interface ApiKeyInput {
  name?: string;
  /** The tenant the key is bound to; left out, an administrator key. */
  tenantId?: string;
}

/** `importEntities`/`importInteractions` options. */
export interface ImportOptions {
  /** Rows per bulk request (default: the client's `bulkChunkSize`, 1000); at most the service's MAX_BULK_ITEMS. */
  chunkSize?: number;
  /** Called after each chunk with the rows sent so far and the merged report so far. */
  onProgress?: (rowsDone: number, report: MergedBulkResult) => void;
}

/** What `export` streams. */
export type ExportKind = 'all' | 'entities' | 'interactions';

/** What a variant changes in the requests of its users; each left out follows the request. */
export interface VariantOverrides {
  algorithm?: NonNullable<UserRecommendationsQuery['algorithm']>;
  collaborativeWeight?: number;
  contentBasedWeight?: number;
  count?: number;
  /** Personalised recommendations only. */
  excludeSeen?: boolean;
}

/** A variant of `createExperiment`: its name (not `control`), share of users and overrides. */
export interface VariantInput {
  name: string;
  share: number;
  overrides?: VariantOverrides;
}

/** `createExperiment`'s argument. Shares add up to at most 1; the rest is the control. */
export interface ExperimentInput {
  name: string;
  route: 'user' | 'similar' | 'both';
  variants: readonly VariantInput[];
  /** Interaction types counted as clicks (default click, view). */
  clickTypes?: readonly string[];
  /** Interaction types counted as conversions (default purchase, add_to_cart). */
  conversionTypes?: readonly string[];
  plannedUsersPerVariant?: number;
}

/** `getOnlineEvaluation`'s parameters. */
export interface OnlineEvaluationParams {
  bucket?: 'hour' | 'day';
  /** Days to look back, 1 to 90 (default 1). */
  days?: number;
  clickTypes?: readonly string[];
  conversionTypes?: readonly string[];
}
