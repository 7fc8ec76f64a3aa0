import { describe, expect, it } from 'vitest';
import {
  APIConnectionError,
  APITimeoutError,
  RateLimitError,
  RecommendationClient,
  retryDelay,
  type FetchLike,
} from '../src/index.js';
import { client, countingFetch, flakyFetch, hangingFetch, limitedService, unique } from './helpers.js';

describe('retry policy', () => {
  it('waits backoffMs * 2^(n-1), capped, between half and all of it', () => {
    expect(retryDelay(1, 500, 30_000, undefined, () => 0)).toBe(250);
    expect(retryDelay(1, 500, 30_000, undefined, () => 1)).toBe(500);
    expect(retryDelay(3, 500, 30_000, undefined, () => 1)).toBe(2000);
    expect(retryDelay(3, 500, 30_000, undefined, () => 0)).toBe(1000);
    expect(retryDelay(10, 500, 30_000, undefined, () => 1)).toBe(30_000);
    expect(retryDelay(10, 500, 30_000, undefined, () => 0)).toBe(15_000);
    for (let i = 0; i < 100; i++) {
      const wait = retryDelay(2, 100, 1000);
      expect(wait).toBeGreaterThanOrEqual(100);
      expect(wait).toBeLessThanOrEqual(200);
    }
  });

  it("honours the service's Retry-After, capped at maxBackoffMs", () => {
    expect(retryDelay(1, 500, 30_000, 2, () => 0)).toBe(2000);
    expect(retryDelay(1, 500, 30_000, 2, () => 1)).toBe(2100);
    expect(retryDelay(1, 500, 1500, 20, () => 0)).toBe(1500);
  });

  it('rejects settings out of range', () => {
    expect(() => new RecommendationClient({ maxRetries: -1 })).toThrow(RangeError);
    expect(() => new RecommendationClient({ bulkChunkSize: 0 })).toThrow(RangeError);
    expect(() => new RecommendationClient({ timeoutMs: -5 })).toThrow(RangeError);
  });
});

describe('retries', () => {
  it('retries a GET after connection errors', async () => {
    const fetch = flakyFetch(2, 'before');
    const status = await client({ fetch, maxRetries: 3 }).getModelStatus();
    expect(status).toHaveProperty('state');
    expect(fetch.calls).toHaveLength(3);
  });

  it('gives up after maxRetries, and maxRetries 0 sends once', async () => {
    const fetch = flakyFetch(10, 'before');
    await expect(client({ fetch, maxRetries: 2 }).listWebhooks()).rejects.toBeInstanceOf(APIConnectionError);
    expect(fetch.calls).toHaveLength(3);
    const once = flakyFetch(10, 'before');
    const error = await client({ fetch: once, maxRetries: 0 }).listWebhooks().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as APIConnectionError).message).toContain('socket hang up');
    expect(once.calls).toHaveLength(1);
  });

  it('sends a POST that is not idempotent once', async () => {
    const fetch = flakyFetch(1, 'before');
    const c = client({ fetch, tenantId: unique('once'), maxRetries: 3 });
    await expect(c.createEntity({ entityId: 'x', entityType: 'product' })).rejects.toBeInstanceOf(APIConnectionError);
    expect(fetch.calls).toHaveLength(1);
    const hook = flakyFetch(1, 'before');
    await expect(client({ fetch: hook, maxRetries: 3 }).createWebhook({ url: 'http://127.0.0.1:9/x', events: ['*'] })).rejects.toBeInstanceOf(
      APIConnectionError,
    );
    expect(hook.calls).toHaveLength(1);
  });

  it('retries PUT and DELETE', async () => {
    const tenantId = unique('put');
    await client({ tenantId }).createEntity({ entityId: 'x', entityType: 'product' });
    const put = flakyFetch(1, 'after');
    const updated = await client({ tenantId, fetch: put }).updateEntity('x', { attributes: { v: 2 } });
    expect(updated.attributes).toEqual({ v: 2 });
    expect(put.calls).toHaveLength(2);
    const del = flakyFetch(1, 'before');
    await client({ tenantId, fetch: del }).deleteEntity('x');
    expect(del.calls).toHaveLength(2);
  });

  it('times out each attempt, retries, then throws APITimeoutError', async () => {
    const fetch = hangingFetch();
    const started = Date.now();
    const error = await client({ fetch, timeoutMs: 50, maxRetries: 2, backoffMs: 1 })
      .getTenant()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APITimeoutError);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).toMatchObject({ code: 'timeout', status: undefined });
    expect(fetch.calls).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe('abort', () => {
  it('rejects with AbortError when the signal aborts during a request, without retrying', async () => {
    const fetch = hangingFetch();
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 30);
    const error = await client({ fetch, maxRetries: 3 })
      .getModelStatus({ signal: controller.signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('AbortError');
    expect(fetch.calls).toHaveLength(1);
  });

  it("rejects with the signal's own reason", async () => {
    const fetch = hangingFetch();
    const controller = new AbortController();
    const reason = new Error('user left the page');
    setTimeout(() => {
      controller.abort(reason);
    }, 20);
    await expect(client({ fetch }).listWebhooks({ signal: controller.signal })).rejects.toBe(reason);
  });

  it('stops waiting between retries when aborted', async () => {
    const fetch = flakyFetch(10, 'before');
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => {
      controller.abort();
    }, 50);
    const error = await client({ fetch, maxRetries: 5, backoffMs: 10_000 })
      .listWebhooks({ signal: controller.signal })
      .catch((e: unknown) => e);
    expect((error as DOMException).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fetch.calls).toHaveLength(1);
  });

  it('sends nothing when already aborted, and aborts a real request', async () => {
    const fetch = countingFetch();
    const c = client({ fetch });
    await expect(c.health({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(fetch.calls).toHaveLength(0);
    const controller = new AbortController();
    const pending = c.getModelStatus({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('rate limit (a real service with a burst of 2)', () => {
  const limited = (options: { maxRetries: number; fetch?: FetchLike }): RecommendationClient =>
    new RecommendationClient({ baseUrl: limitedService.url, apiKey: limitedService.apiKey, maxBackoffMs: 5000, ...options });

  it('throws RateLimitError with retryAfter without retries, and a POST is not retried', async () => {
    const c = limited({ maxRetries: 0 });
    let error: unknown;
    for (let i = 0; i < 6 && error === undefined; i++) {
      await c.listInteractionTypes().catch((e: unknown) => {
        error = e;
      });
    }
    expect(error).toBeInstanceOf(RateLimitError);
    const limit = error as RateLimitError;
    expect(limit).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(limit.retryAfter).toBeGreaterThanOrEqual(1);
    expect(limit.requestId).toBeTruthy();

    // A POST that creates is sent once, 429 or not.
    const fetch = countingFetch();
    const poster = limited({ maxRetries: 3, fetch });
    let posts = 0;
    let refused: unknown;
    while (refused === undefined && posts < 6) {
      posts += 1;
      await poster.createEntity({ entityId: unique('e'), entityType: 'product' }).catch((e: unknown) => {
        refused = e;
      });
    }
    expect(refused).toBeInstanceOf(RateLimitError);
    expect(fetch.calls).toHaveLength(posts);
  });

  it('retries after 429 as Retry-After says, until it goes through', async () => {
    const statuses: number[] = [];
    const fetch: FetchLike = async (input, init) => {
      const response = await globalThis.fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const c = limited({ maxRetries: 4, fetch });
    for (let i = 0; i < 3; i++) {
      expect(Array.isArray(await c.listInteractionTypes())).toBe(true);
    }
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
  });
});
