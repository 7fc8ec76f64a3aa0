/**
 * Retries against real failures: a service whose embedded PostgreSQL is killed answers
 * 503 with Retry-After while it starts the database again; a server that accepts
 * connections and never answers makes the client time out.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APIConnectionError, APITimeoutError, RecommendationClient, ServiceUnavailableError, type FetchLike } from '../src/index.js';
import { startService, type RunningService } from '../scripts/service.mjs';

describe('503 while the database restarts', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService();
  }, 120_000);
  afterAll(async () => {
    await service.stop();
  });

  const killDatabase = async (): Promise<void> => {
    const pid = Number(readFileSync(join(service.dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
    process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // its server processes notice and exit
  };

  it('is retried until the service answers again; without retries it throws ServiceUnavailableError', async () => {
    const statuses: number[] = [];
    const fetch: FetchLike = async (input, init) => {
      const response = await globalThis.fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const client = new RecommendationClient({ baseUrl: service.url, apiKey: service.apiKey, maxRetries: 10, backoffMs: 200, fetch });
    await client.createEntity({ entityId: 'p1', entityType: 'product' });
    await killDatabase();
    expect((await client.getEntity('p1', { entityType: 'product' })).entity_id).toBe('p1');
    expect(statuses.slice(1)).toContain(503);
    expect(statuses.at(-1)).toBe(200);

    await killDatabase();
    const once = new RecommendationClient({ baseUrl: service.url, apiKey: service.apiKey, maxRetries: 0 });
    const error = await once.getEntity('p1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ status: 503, code: 'database_unavailable' });
    expect((error as ServiceUnavailableError).retryAfter).toBeGreaterThan(0);
  }, 60_000);
});

describe('a server that never answers', () => {
  let server: Server;
  let url = '';
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket); // accepted, never answered
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('times out each attempt and throws APITimeoutError', async () => {
    const client = new RecommendationClient({ baseUrl: url, apiKey: 'k', timeoutMs: 300, maxRetries: 1, backoffMs: 10 });
    const started = Date.now();
    const error = await client.getModelStatus().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APITimeoutError);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).toMatchObject({ code: 'timeout', status: undefined });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600); // two attempts
    expect(sockets.size).toBeGreaterThan(0);
  });
});
