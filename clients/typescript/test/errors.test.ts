import { describe, expect, it } from 'vitest';
import {
  APIConnectionError,
  APITimeoutError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
  RecommendationClient,
  RecommendationError,
  ServerError,
  ServiceUnavailableError,
  ValidationError,
  WebhookVerificationError,
  errorFromResponse,
} from '../src/index.js';
import { freePort } from '../scripts/service.mjs';
import { client, service, unique } from './helpers.js';

async function failure(promise: Promise<unknown>): Promise<RecommendationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RecommendationError);
  return error as RecommendationError;
}

describe('errors from the service', () => {
  it('404 carries code, message, details, status and the request id', async () => {
    const id = unique('missing');
    const error = await failure(client({ tenantId: unique('err') }).getEntity(id));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'not_found', status: 404, details: { entity_id: id }, name: 'NotFoundError' });
    expect(error.message).toContain(id);
    expect(error.requestId).toMatch(/^[0-9a-f]{16,}$/);
    expect(error).toBeInstanceOf(Error);
  });

  it('401 for a wrong key', async () => {
    const bad = new RecommendationClient({ baseUrl: service.url, apiKey: 'not-the-key' });
    const error = await failure(bad.listWebhooks());
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('400, 409, 413 and 422', async () => {
    const c = client({ tenantId: unique('err') });
    expect(await failure(c.getUserRecommendations('u', { count: 5000 }))).toBeInstanceOf(BadRequestError);
    const id = unique('e');
    await c.createEntity({ entityId: id, entityType: 'product' });
    const conflict = await failure(c.createEntity({ entityId: id, entityType: 'product' }));
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict).toMatchObject({ status: 409, code: 'conflict' });
    const tooMany = Array.from({ length: 501 }, (_, i) => ({ userId: 'u', entityId: `e${i}`, interactionType: 'view' }));
    expect(await failure(c.bulkRecordInteractions(tooMany))).toBeInstanceOf(PayloadTooLargeError);
    const invalid = await failure(c.createInteractionType({ interactionType: 'bad name', defaultWeight: 1 }));
    expect(invalid).toBeInstanceOf(ValidationError);
    expect(invalid).toMatchObject({ status: 422, code: 'validation_error' });
    expect(Array.isArray(invalid.details)).toBe(true);
  });

  it('403 for an administration route with a tenant key', async () => {
    const admin = client();
    const tenant = unique('t403');
    const key = await admin.createApiKey({ tenantId: tenant, name: 'tenant key' });
    const tenantClient = new RecommendationClient({ baseUrl: service.url, apiKey: key.key });
    const error = await failure(tenantClient.listTenants());
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error).toMatchObject({ status: 403, code: 'forbidden' });
    await admin.deleteApiKey(key.id);
  });

  it('no answer is an APIConnectionError without a status', async () => {
    const port = await freePort();
    const c = new RecommendationClient({ baseUrl: `http://127.0.0.1:${port}`, maxRetries: 1, backoffMs: 1 });
    const error = await failure(c.health());
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).not.toBeInstanceOf(APITimeoutError);
    expect(error).toMatchObject({ code: 'connection_error', status: undefined, requestId: undefined });
  });
});

describe('errorFromResponse', () => {
  const headers = (values: Record<string, string> = {}): Headers => new Headers({ 'X-Request-ID': 'req-1', ...values });
  const body = (code: string, message: string, details?: unknown): string => JSON.stringify({ error: { code, message, details } });

  it('maps each status to its class', () => {
    const cases: [number, typeof RecommendationError][] = [
      [400, BadRequestError],
      [401, AuthenticationError],
      [403, PermissionDeniedError],
      [404, NotFoundError],
      [409, ConflictError],
      [413, PayloadTooLargeError],
      [422, ValidationError],
      [429, RateLimitError],
      [500, ServerError],
      [502, ServerError],
      [503, ServiceUnavailableError],
      [504, ServerError],
      [418, RecommendationError],
    ];
    for (const [status, cls] of cases) {
      const error = errorFromResponse(status, headers(), body('c', 'm'));
      expect(error.constructor).toBe(cls);
      expect(error).toMatchObject({ status, code: 'c', message: 'm', requestId: 'req-1' });
    }
    expect(errorFromResponse(503, headers(), '')).toBeInstanceOf(ServerError);
  });

  it('reads Retry-After on 429 and 503', () => {
    const limited = errorFromResponse(429, headers({ 'Retry-After': '7' }), body('rate_limited', 'slow down', { retry_after_seconds: 7 }));
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited).toMatchObject({ retryAfter: 7 });
    const unavailable = errorFromResponse(503, headers({ 'Retry-After': '2' }), body('service_unavailable', 'starting'));
    expect(unavailable).toMatchObject({ retryAfter: 2 });
    expect(errorFromResponse(429, headers(), '')).toMatchObject({ retryAfter: undefined });
  });

  it('keeps a body that is not the service error shape as the message', () => {
    const error = errorFromResponse(502, new Headers(), '<html>Bad Gateway</html>');
    expect(error).toMatchObject({ code: 'http_error', message: '<html>Bad Gateway</html>', status: 502, requestId: undefined });
    expect(errorFromResponse(500, new Headers(), '').message).toBe('HTTP 500');
  });

  it('webhook verification errors carry their code', () => {
    const error = new WebhookVerificationError('nope', 'stale_timestamp', { tolerance: 300 });
    expect(error).toBeInstanceOf(RecommendationError);
    expect(error).toMatchObject({ code: 'stale_timestamp', status: undefined, name: 'WebhookVerificationError' });
  });
});
