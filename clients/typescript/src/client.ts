/** The client: one method per route of the service, plus chunked imports, iterators and streamed exports. */
import {
  ENTITY_FIELDS,
  INTERACTION_FIELDS,
  TENANT_CONFIG_FIELDS,
  chunks,
  emptyReport,
  mergeReport,
  type MergedBulkResult,
  toWire,
  withEventIds,
} from './bulk.js';
import { Transport, type ApiRequest, type FetchLike, type QueryValue, type RequestOptions } from './http.js';
import type {
  ApiKey,
  ApiKeyInput,
  BulkResult,
  Delivery,
  DeliveryStatus,
  Entity,
  EntityInput,
  EntityRow,
  EntityUpdate,
  Experiment,
  ExperimentInput,
  ExperimentResults,
  ExportKind,
  ExportRow,
  ExportedInteraction,
  Filters,
  Health,
  ImportOptions,
  Interaction,
  InteractionInput,
  InteractionRow,
  InteractionType,
  InteractionTypeInput,
  InteractionTypeUpdate,
  IterateParams,
  ModelStatus,
  NewApiKey,
  NewWebhook,
  OnlineEvaluation,
  OnlineEvaluationParams,
  OwnTenant,
  PageParams,
  Readiness,
  RebuildAccepted,
  ServiceConfig,
  SimilarEntities,
  SimilarEntitiesParams,
  Tenant,
  TenantInput,
  Trending,
  TrendingParams,
  UserRecommendations,
  UserRecommendationsParams,
  Webhook,
  WebhookInput,
  WebhookUpdate,
} from './types.js';
import { randomUUID } from './uuid.js';

/** `new RecommendationClient(options)`. */
export interface ClientOptions {
  /** The service, e.g. `http://localhost:8080` (the default). */
  baseUrl?: string;
  /** Sent as X-API-Key. */
  apiKey?: string;
  /** Sent as X-Tenant-ID with every request; a call's `{ tenantId }` overrides it. */
  tenantId?: string;
  /** Retries of an idempotent request (default 3; 0: none). */
  maxRetries?: number;
  /** Time each attempt has to answer, in milliseconds (default 30000; 0: no limit). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: FetchLike;
  /** More headers for every request. */
  headers?: Record<string, string>;
  /** Rows per bulk request of `importEntities`/`importInteractions` (default 1000). */
  bulkChunkSize?: number;
  /** The wait before the first retry, in ms (default 500), doubled for each next one and jittered. */
  backoffMs?: number;
  /** The longest wait between retries, in ms (default 30000); a Retry-After is capped at it too. */
  maxBackoffMs?: number;
}

export const DEFAULT_BASE_URL = 'http://localhost:8080';
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_BULK_CHUNK_SIZE = 1000;
export const DEFAULT_BACKOFF_MS = 500;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;

const seg = encodeURIComponent;

function checkPage(limit: number, offset: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError('limit (page size) must be 1 to 1000');
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError('offset must be 0 or more');
}

function filterParams(filters: Filters | undefined): Record<string, QueryValue> {
  const out: Record<string, QueryValue> = {};
  for (const [name, value] of Object.entries(filters ?? {})) out[`filter.${name}`] = value;
  return out;
}

function checkCount(name: string, value: number, least: number): number {
  if (!Number.isInteger(value) || value < least) throw new RangeError(`${name} must be an integer of ${least} or more`);
  return value;
}

/**
 * A client of the recommendation-engine API.
 *
 * ```ts
 * const client = new RecommendationClient({ baseUrl: 'http://localhost:8080', apiKey: 'your-api-key' });
 * await client.createEntity({ entityId: 'product-123', entityType: 'product', attributes: { name: 'Laptop' } });
 * const recommendations = await client.getUserRecommendations('user-456', { count: 10 });
 * ```
 *
 * Every method takes, last, `{ tenantId, signal }`: the tenant for this call only, and an
 * AbortSignal. Answers are the service's JSON objects (snake_case fields).
 */
export class RecommendationClient {
  /** The rows per bulk request of the `import*` methods. */
  readonly bulkChunkSize: number;
  private readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    const maxRetries = checkCount('maxRetries', options.maxRetries ?? DEFAULT_MAX_RETRIES, 0);
    this.bulkChunkSize = checkCount('bulkChunkSize', options.bulkChunkSize ?? DEFAULT_BULK_CHUNK_SIZE, 1);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs >= 0)) throw new RangeError('timeoutMs must be 0 or more');
    const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    if (!(backoffMs >= 0) || !(maxBackoffMs >= 0)) throw new RangeError('backoffMs and maxBackoffMs must be 0 or more');
    this.transport = new Transport({
      baseUrl: (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, ''),
      apiKey: options.apiKey,
      tenantId: options.tenantId,
      maxRetries,
      timeoutMs,
      backoffMs,
      maxBackoffMs,
      headers: { ...(options.headers ?? {}) },
      fetch: options.fetch,
    });
  }

  /** The service's base URL, without a trailing slash. */
  get baseUrl(): string {
    return this.transport.settings.baseUrl;
  }

  /** The tenant sent with every call that names none. */
  get tenantId(): string | undefined {
    return this.transport.settings.tenantId;
  }

  private call<T>(request: ApiRequest): Promise<T> {
    return this.transport.json<T>(request);
  }

  // ------------------------------------------------------------------ service

  /** GET /health: liveness. */
  health(options?: RequestOptions): Promise<Health> {
    return this.call({ method: 'GET', path: '/health', options });
  }

  /** GET /ready: 200 when the database answers (a 503 throws ServiceUnavailableError). */
  ready(options?: RequestOptions): Promise<Readiness> {
    return this.call({ method: 'GET', path: '/ready', options });
  }

  /** GET /metrics: Prometheus metrics, as text. */
  getMetrics(options?: RequestOptions): Promise<string> {
    return this.transport.text({ method: 'GET', path: '/metrics', options, accept: 'text/plain' });
  }

  /** GET /api/config: the service's effective configuration, secrets masked. */
  getConfig(options?: RequestOptions): Promise<ServiceConfig> {
    return this.call({ method: 'GET', path: '/api/config', options });
  }

  // ----------------------------------------------------------------- entities

  /** Register an entity (ConflictError when it exists). Sent once: a POST that creates is not retried. */
  createEntity(input: EntityInput, options?: RequestOptions): Promise<Entity> {
    const body = toWire({ ...input, attributes: input.attributes ?? {} }, ENTITY_FIELDS);
    return this.call({ method: 'POST', path: '/api/v1/entities', body, options });
  }

  /** Read an entity (`entityType` may be left out when the id is unique in the tenant). */
  getEntity(entityId: string, params: { entityType?: string } = {}, options?: RequestOptions): Promise<Entity> {
    return this.call({
      method: 'GET',
      path: `/api/v1/entities/${seg(entityId)}`,
      query: { entity_type: params.entityType },
      options,
    });
  }

  /** Replace an entity's attributes (and feature vector). */
  updateEntity(entityId: string, update: EntityUpdate, options?: RequestOptions): Promise<Entity> {
    const { entityType, ...rest } = update;
    return this.call({
      method: 'PUT',
      path: `/api/v1/entities/${seg(entityId)}`,
      query: { entity_type: entityType },
      body: toWire(rest, ENTITY_FIELDS),
      options,
    });
  }

  /** Delete an entity and its interactions. */
  async deleteEntity(entityId: string, params: { entityType?: string } = {}, options?: RequestOptions): Promise<void> {
    await this.call({
      method: 'DELETE',
      path: `/api/v1/entities/${seg(entityId)}`,
      query: { entity_type: params.entityType },
      options,
    });
  }

  /**
   * Create or replace up to the service's MAX_BULK_ITEMS entities in one request (an
   * upsert, so it is retried safely). Rows failing validation are reported, not thrown.
   */
  bulkCreateEntities(entities: readonly EntityRow[], options?: RequestOptions): Promise<BulkResult> {
    const rows = entities.map((row) => toWire(row, ENTITY_FIELDS));
    return this.call({ method: 'POST', path: '/api/v1/entities/bulk', body: { entities: rows }, idempotent: true, options });
  }

  /**
   * Send any number of entities (an iterable or async iterable, read lazily) in bulk
   * requests of `chunkSize` rows; one merged report whose error indexes count from the
   * start of the input. `onProgress(rowsDone, report)` is called after each request.
   */
  importEntities(
    entities: Iterable<EntityRow> | AsyncIterable<EntityRow>,
    importOptions: ImportOptions = {},
    options?: RequestOptions,
  ): Promise<MergedBulkResult> {
    return this.importInChunks(entities, (chunk) => this.bulkCreateEntities(chunk, options), importOptions);
  }

  /** Every entity of the tenant, streamed (NDJSON) one at a time. Nothing is sent before the first row is asked for; stopping early closes the stream. */
  async *exportEntities(options?: RequestOptions): AsyncGenerator<Entity, void, undefined> {
    for await (const line of this.transport.lines({
      method: 'GET',
      path: '/api/v1/entities/export',
      options,
      accept: 'application/x-ndjson, application/json',
    })) {
      yield JSON.parse(line) as Entity;
    }
  }

  // ------------------------------------------------------------- interactions

  /**
   * Record an interaction. Without `eventId` a random one (crypto.randomUUID()) is sent,
   * so the request can be retried: the service stores an interaction with a known event
   * id once.
   */
  recordInteraction(input: InteractionInput, options?: RequestOptions): Promise<Interaction> {
    const body = toWire(input, INTERACTION_FIELDS);
    if (!body['event_id']) body['event_id'] = randomUUID();
    return this.call({ method: 'POST', path: '/api/v1/interactions', body, idempotent: true, options });
  }

  /** One page of a user's interactions, newest first. */
  async listUserInteractions(userId: string, params: PageParams = {}, options?: RequestOptions): Promise<Interaction[]> {
    const { limit = 50, offset = 0 } = params;
    checkPage(limit, offset);
    return this.call({
      method: 'GET',
      path: `/api/v1/interactions/user/${seg(userId)}`,
      query: { limit, offset },
      options,
    });
  }

  /** All of a user's interactions, newest first, fetched a page at a time. */
  iterUserInteractions(userId: string, params: IterateParams = {}, options?: RequestOptions): AsyncGenerator<Interaction, void, undefined> {
    return this.pages((limit, offset) => this.listUserInteractions(userId, { limit, offset }, options), params.pageSize);
  }

  /** One page of an entity's interactions, newest first. */
  async listEntityInteractions(
    entityId: string,
    params: PageParams & { entityType?: string } = {},
    options?: RequestOptions,
  ): Promise<Interaction[]> {
    const { limit = 50, offset = 0, entityType } = params;
    checkPage(limit, offset);
    return this.call({
      method: 'GET',
      path: `/api/v1/interactions/entity/${seg(entityId)}`,
      query: { entity_type: entityType, limit, offset },
      options,
    });
  }

  /** All of an entity's interactions, newest first, fetched a page at a time. */
  iterEntityInteractions(
    entityId: string,
    params: IterateParams & { entityType?: string } = {},
    options?: RequestOptions,
  ): AsyncGenerator<Interaction, void, undefined> {
    const { entityType } = params;
    return this.pages(
      (limit, offset) => this.listEntityInteractions(entityId, { entityType, limit, offset }, options),
      params.pageSize,
    );
  }

  /**
   * Record up to MAX_BULK_ITEMS interactions in one request. Rows without an event id
   * are given a random one, so the request is retried safely.
   */
  bulkRecordInteractions(interactions: readonly InteractionRow[], options?: RequestOptions): Promise<BulkResult> {
    const rows = withEventIds(interactions.map((row) => toWire(row, INTERACTION_FIELDS)));
    return this.call({
      method: 'POST',
      path: '/api/v1/interactions/bulk',
      body: { interactions: rows },
      idempotent: true,
      options,
    });
  }

  /** As `importEntities`, for interactions (rows without an event id are given one). */
  importInteractions(
    interactions: Iterable<InteractionRow> | AsyncIterable<InteractionRow>,
    importOptions: ImportOptions = {},
    options?: RequestOptions,
  ): Promise<MergedBulkResult> {
    return this.importInChunks(interactions, (chunk) => this.bulkRecordInteractions(chunk, options), importOptions);
  }

  /** Every interaction of the tenant, oldest first, streamed (NDJSON) one at a time. */
  async *exportInteractions(options?: RequestOptions): AsyncGenerator<ExportedInteraction, void, undefined> {
    for await (const line of this.transport.lines({
      method: 'GET',
      path: '/api/v1/interactions/export',
      options,
      accept: 'application/x-ndjson, application/json',
    })) {
      yield JSON.parse(line) as ExportedInteraction;
    }
  }

  /** `'entities'`, `'interactions'` or `'all'` (entities, then interactions), streamed one row at a time. */
  export(what: ExportKind = 'all', options?: RequestOptions): AsyncGenerator<ExportRow, void, undefined> {
    if (!(['all', 'entities', 'interactions'] as unknown[]).includes(what)) {
      throw new RangeError("what must be 'all', 'entities' or 'interactions'");
    }
    const rows = async function* (client: RecommendationClient): AsyncGenerator<ExportRow, void, undefined> {
      if (what !== 'interactions') yield* client.exportEntities(options);
      if (what !== 'entities') yield* client.exportInteractions(options);
    };
    return rows(this);
  }

  // -------------------------------------------------------- interaction types

  /** Built-in and custom interaction types. */
  listInteractionTypes(options?: RequestOptions): Promise<InteractionType[]> {
    return this.call({ method: 'GET', path: '/api/v1/interaction-types', options });
  }

  /** Register a custom interaction type. */
  createInteractionType(input: InteractionTypeInput, options?: RequestOptions): Promise<InteractionType> {
    const body = toWire(input, { interactionType: 'interaction_type', defaultWeight: 'default_weight' });
    return this.call({ method: 'POST', path: '/api/v1/interaction-types', body, options });
  }

  /** One interaction type. */
  getInteractionType(interactionType: string, options?: RequestOptions): Promise<InteractionType> {
    return this.call({ method: 'GET', path: `/api/v1/interaction-types/${seg(interactionType)}`, options });
  }

  /** Change a type's weight (built-in types too) and description. */
  updateInteractionType(interactionType: string, update: InteractionTypeUpdate, options?: RequestOptions): Promise<InteractionType> {
    return this.call({
      method: 'PUT',
      path: `/api/v1/interaction-types/${seg(interactionType)}`,
      body: toWire(update, {}),
      options,
    });
  }

  /** Delete a custom type no interaction uses (ConflictError otherwise). */
  async deleteInteractionType(interactionType: string, options?: RequestOptions): Promise<void> {
    await this.call({ method: 'DELETE', path: `/api/v1/interaction-types/${seg(interactionType)}`, options });
  }

  // ---------------------------------------------------------- recommendations

  /** Personalised recommendations for a user. */
  getUserRecommendations(
    userId: string,
    params: UserRecommendationsParams = {},
    options?: RequestOptions,
  ): Promise<UserRecommendations> {
    return this.call({
      method: 'GET',
      path: `/api/v1/recommendations/user/${seg(userId)}`,
      query: {
        count: params.count,
        algorithm: params.algorithm,
        entity_type: params.entityType,
        exclude: params.exclude,
        exclude_seen: params.excludeSeen,
        collaborative_weight: params.collaborativeWeight,
        content_based_weight: params.contentBasedWeight,
        ...filterParams(params.filters),
      },
      options,
    });
  }

  /** Entities similar to one entity. */
  getSimilarEntities(entityId: string, params: SimilarEntitiesParams = {}, options?: RequestOptions): Promise<SimilarEntities> {
    return this.call({
      method: 'GET',
      path: `/api/v1/recommendations/entity/${seg(entityId)}`,
      query: {
        entity_type: params.entityType,
        count: params.count,
        algorithm: params.algorithm,
        result_type: params.resultType,
        exclude: params.exclude,
        user_id: params.userId,
        ...filterParams(params.filters),
      },
      options,
    });
  }

  /** Entities trending within the last `windowDays`. */
  getTrending(params: TrendingParams = {}, options?: RequestOptions): Promise<Trending> {
    return this.call({
      method: 'GET',
      path: '/api/v1/recommendations/trending',
      query: { entity_type: params.entityType, count: params.count, window_days: params.windowDays },
      options,
    });
  }

  /** The live model and any build in progress. */
  getModelStatus(options?: RequestOptions): Promise<ModelStatus> {
    return this.call({ method: 'GET', path: '/api/v1/model/status', options });
  }

  /** Start a full rebuild (or, with `incremental`, fold recent interactions in); answers at once. Sent once. */
  rebuildModel(params: { incremental?: boolean } = {}, options?: RequestOptions): Promise<RebuildAccepted> {
    return this.call({
      method: 'POST',
      path: '/api/v1/model/rebuild',
      query: { incremental: params.incremental ? true : undefined },
      options,
    });
  }

  // ------------------------------------------------------------------ tenancy

  /** The caller's tenant: its settings, effective settings and type weights. */
  getTenant(options?: RequestOptions): Promise<OwnTenant> {
    return this.call({ method: 'GET', path: '/api/v1/tenant', options });
  }

  /** Registered tenants (administrator key). */
  listTenants(options?: RequestOptions): Promise<Tenant[]> {
    return this.call({ method: 'GET', path: '/api/v1/admin/tenants', options });
  }

  /** Register a tenant, or replace its name and settings (administrator key). */
  putTenant(tenantId: string, input: TenantInput = {}, options?: RequestOptions): Promise<Tenant> {
    const body = {
      name: input.name ?? null,
      config: toWire(input.config ?? {}, TENANT_CONFIG_FIELDS),
      interaction_type_weights: { ...(input.interactionTypeWeights ?? {}) },
    };
    return this.call({ method: 'PUT', path: `/api/v1/admin/tenants/${seg(tenantId)}`, body, options });
  }

  /** A registered tenant (administrator key; NotFoundError when unregistered). */
  getAdminTenant(tenantId: string, options?: RequestOptions): Promise<Tenant> {
    return this.call({ method: 'GET', path: `/api/v1/admin/tenants/${seg(tenantId)}`, options });
  }

  /** Delete a tenant with all of its data, settings, keys and webhooks (administrator key). */
  async deleteTenant(tenantId: string, options?: RequestOptions): Promise<void> {
    await this.call({ method: 'DELETE', path: `/api/v1/admin/tenants/${seg(tenantId)}`, options });
  }

  /** A new API key bound to `tenantId` (left out: an administrator key); its `key` is shown this once. Sent once. */
  createApiKey(input: ApiKeyInput = {}, options?: RequestOptions): Promise<NewApiKey> {
    const body = { name: input.name ?? null, tenant_id: input.tenantId ?? null };
    return this.call({ method: 'POST', path: '/api/v1/admin/api-keys', body, options });
  }

  /** The keys of one tenant, or every key (administrator key). */
  listApiKeys(params: { tenantId?: string } = {}, options?: RequestOptions): Promise<ApiKey[]> {
    return this.call({ method: 'GET', path: '/api/v1/admin/api-keys', query: { tenant_id: params.tenantId }, options });
  }

  /** Revoke a key (administrator key). */
  async deleteApiKey(keyId: string, options?: RequestOptions): Promise<void> {
    await this.call({ method: 'DELETE', path: `/api/v1/admin/api-keys/${seg(keyId)}`, options });
  }

  // ----------------------------------------------------------------- webhooks

  /** Subscribe `url` to `events` (`['*']`: all); the answer's `secret` is shown this once. Sent once. */
  createWebhook(input: WebhookInput, options?: RequestOptions): Promise<NewWebhook> {
    return this.call({ method: 'POST', path: '/api/v1/webhooks', body: webhookBody(input), options });
  }

  /** The tenant's webhook subscriptions. */
  listWebhooks(options?: RequestOptions): Promise<Webhook[]> {
    return this.call({ method: 'GET', path: '/api/v1/webhooks', options });
  }

  /** One webhook subscription. */
  getWebhook(webhookId: string, options?: RequestOptions): Promise<Webhook> {
    return this.call({ method: 'GET', path: `/api/v1/webhooks/${seg(webhookId)}`, options });
  }

  /** Replace a subscription's URL, events, `active` and description (and its secret, when given). */
  updateWebhook(webhookId: string, input: WebhookUpdate, options?: RequestOptions): Promise<Webhook> {
    return this.call({ method: 'PUT', path: `/api/v1/webhooks/${seg(webhookId)}`, body: webhookBody(input), options });
  }

  /** Delete a subscription. */
  async deleteWebhook(webhookId: string, options?: RequestOptions): Promise<void> {
    await this.call({ method: 'DELETE', path: `/api/v1/webhooks/${seg(webhookId)}`, options });
  }

  /** One page of a subscription's delivery log, newest first. */
  async listWebhookDeliveries(
    webhookId: string,
    params: PageParams & { status?: DeliveryStatus } = {},
    options?: RequestOptions,
  ): Promise<Delivery[]> {
    const { limit = 50, offset = 0, status } = params;
    checkPage(limit, offset);
    return this.call({
      method: 'GET',
      path: `/api/v1/webhooks/${seg(webhookId)}/deliveries`,
      query: { status, limit, offset },
      options,
    });
  }

  /** The whole delivery log, newest first, fetched a page at a time. */
  iterWebhookDeliveries(
    webhookId: string,
    params: IterateParams & { status?: DeliveryStatus } = {},
    options?: RequestOptions,
  ): AsyncGenerator<Delivery, void, undefined> {
    const { status } = params;
    return this.pages(
      (limit, offset) => this.listWebhookDeliveries(webhookId, { status, limit, offset }, options),
      params.pageSize,
    );
  }

  /** Deliver again, with a fresh set of attempts. Sent once. */
  retryWebhookDelivery(webhookId: string, deliveryId: number, options?: RequestOptions): Promise<Delivery> {
    return this.call({
      method: 'POST',
      path: `/api/v1/webhooks/${seg(webhookId)}/deliveries/${seg(String(deliveryId))}/retry`,
      options,
    });
  }

  // -------------------------------------------------------------- experiments

  /** Create an experiment as a draft (start it with `startExperiment`). */
  createExperiment(input: ExperimentInput, options?: RequestOptions): Promise<Experiment> {
    return this.call({ method: 'POST', path: '/api/v1/experiments', body: experimentBody(input), options });
  }

  /** The tenant's experiments, newest first. */
  listExperiments(options?: RequestOptions): Promise<Experiment[]> {
    return this.call({ method: 'GET', path: '/api/v1/experiments', options });
  }

  /** One experiment. */
  getExperiment(experimentId: string, options?: RequestOptions): Promise<Experiment> {
    return this.call({ method: 'GET', path: `/api/v1/experiments/${seg(experimentId)}`, options });
  }

  /** Start a draft (409 `ConflictError` when another experiment runs on the same route). */
  startExperiment(experimentId: string, options?: RequestOptions): Promise<Experiment> {
    return this.call({ method: 'POST', path: `/api/v1/experiments/${seg(experimentId)}/start`, options });
  }

  /** Stop a running experiment. */
  stopExperiment(experimentId: string, options?: RequestOptions): Promise<Experiment> {
    return this.call({ method: 'POST', path: `/api/v1/experiments/${seg(experimentId)}/stop`, options });
  }

  /** Per-variant figures with 95 % intervals, lifts against the baseline, p-values and the sample-ratio check. */
  getExperimentResults(experimentId: string, options?: RequestOptions): Promise<ExperimentResults> {
    return this.call({ method: 'GET', path: `/api/v1/experiments/${seg(experimentId)}/results`, options });
  }

  /** Click-through and conversion of served recommendations by time, route and algorithm. */
  getOnlineEvaluation(params: OnlineEvaluationParams = {}, options?: RequestOptions): Promise<OnlineEvaluation> {
    return this.call({
      method: 'GET',
      path: '/api/v1/evaluation/online',
      query: {
        bucket: params.bucket,
        days: params.days,
        click_types: params.clickTypes,
        conversion_types: params.conversionTypes,
      },
      options,
    });
  }

  // ------------------------------------------------------------------ helpers

  private async *pages<T>(
    fetchPage: (limit: number, offset: number) => Promise<T[]>,
    pageSize = 100,
  ): AsyncGenerator<T, void, undefined> {
    checkPage(pageSize, 0);
    let offset = 0;
    for (;;) {
      const page = await fetchPage(pageSize, offset);
      yield* page;
      if (page.length < pageSize) return;
      offset += page.length;
    }
  }

  private async importInChunks<R>(
    rows: Iterable<R> | AsyncIterable<R>,
    send: (chunk: R[]) => Promise<BulkResult>,
    importOptions: ImportOptions,
  ): Promise<MergedBulkResult> {
    const size = checkCount('chunkSize', importOptions.chunkSize ?? this.bulkChunkSize, 1);
    let report: MergedBulkResult | undefined;
    let done = 0;
    for await (const chunk of chunks(rows, size)) {
      report = mergeReport(report, await send(chunk), done);
      done += chunk.length;
      importOptions.onProgress?.(done, report);
    }
    return report ?? emptyReport();
  }
}

function webhookBody(input: WebhookInput): Record<string, unknown> {
  return {
    url: input.url,
    events: [...input.events],
    active: input.active ?? true,
    description: input.description ?? null,
    secret: input.secret ?? null,
  };
}

function experimentBody(input: ExperimentInput): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: input.name,
    route: input.route,
    variants: input.variants.map((variant) => ({
      name: variant.name,
      share: variant.share,
      overrides: toWire({ ...(variant.overrides ?? {}) }, OVERRIDE_FIELDS),
    })),
  };
  if (input.clickTypes !== undefined) body['click_types'] = [...input.clickTypes];
  if (input.conversionTypes !== undefined) body['conversion_types'] = [...input.conversionTypes];
  if (input.plannedUsersPerVariant !== undefined) body['planned_users_per_variant'] = input.plannedUsersPerVariant;
  return body;
}

const OVERRIDE_FIELDS: Readonly<Record<string, string>> = {
  collaborativeWeight: 'collaborative_weight',
  contentBasedWeight: 'content_based_weight',
  excludeSeen: 'exclude_seen',
};
