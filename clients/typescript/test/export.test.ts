import { describe, expect, it } from 'vitest';
import { AuthenticationError, RecommendationClient, type ExportRow, type FetchLike } from '../src/index.js';
import { client, countingFetch, service, unique } from './helpers.js';

/** The real fetch, noting whether the answer's body stream was cancelled. */
function cancelWatchingFetch(): { fetch: FetchLike; state: { cancelled: boolean; calls: number } } {
  const state = { cancelled: false, calls: 0 };
  const wrapped = async (input: string, init: RequestInit): Promise<Response> => {
    state.calls += 1;
    const response = await fetch(input, init);
    const source = response.body;
    if (!source) return response;
    const reader = source.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const chunk = await reader.read();
        if (chunk.done) controller.close();
        else controller.enqueue(chunk.value);
      },
      cancel(reason) {
        state.cancelled = true;
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: wrapped, state };
}

describe('export', () => {
  const tenantId = unique('export');
  const seeded = (async () => {
    const c = client({ tenantId });
    await c.bulkCreateEntities(
      Array.from({ length: 300 }, (_, i) => ({ entityId: `e${i}`, entityType: 'product', attributes: { i, text: 'x'.repeat(200) } })),
    );
    await c.bulkRecordInteractions(
      Array.from({ length: 20 }, (_, i) => ({ userId: `u${i % 4}`, entityId: `e${i}`, interactionType: 'view' })),
    );
  })();

  it('streams every entity and interaction as objects', async () => {
    await seeded;
    const c = client({ tenantId });
    const entities = [];
    for await (const entity of c.exportEntities()) entities.push(entity);
    expect(entities).toHaveLength(300);
    expect(new Set(entities.map((e) => e.entity_id)).size).toBe(300);
    expect(entities[0]).toMatchObject({ entity_type: 'product', tenant_id: tenantId });

    const interactions = [];
    for await (const interaction of c.exportInteractions()) interactions.push(interaction);
    expect(interactions).toHaveLength(20);
    expect(interactions[0]).toMatchObject({ interaction_type: 'view', tenant_id: tenantId });

    const all: ExportRow[] = [];
    for await (const row of c.export()) all.push(row);
    expect(all).toHaveLength(320);
    expect('user_id' in (all[299] as object)).toBe(false);
    expect('user_id' in (all[300] as object)).toBe(true);
    const onlyInteractions: ExportRow[] = [];
    for await (const row of c.export('interactions')) onlyInteractions.push(row);
    expect(onlyInteractions).toHaveLength(20);
    let onlyEntities = 0;
    for await (const row of c.export('entities')) onlyEntities += 'entity_type' in row ? 1 : 0;
    expect(onlyEntities).toBe(300);
    expect(() => c.export('everything' as 'all')).toThrow(RangeError);
  });

  it('asks nothing before the first row is read', async () => {
    await seeded;
    const fetch = countingFetch();
    const rows = client({ tenantId, fetch }).export('all');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fetch.calls).toHaveLength(0);
    const first = await rows.next();
    expect(first.done).toBe(false);
    expect(fetch.calls).toHaveLength(1);
    expect(new Headers(fetch.calls[0]?.headers).get('x-tenant-id')).toBe(tenantId);
    await rows.return(undefined);
  });

  it('cancels the answer stream when the consumer stops early', async () => {
    await seeded;
    const { fetch, state } = cancelWatchingFetch();
    let read = 0;
    for await (const entity of client({ tenantId, fetch }).exportEntities()) {
      expect(entity.entity_id).toBeTruthy();
      read += 1;
      if (read === 2) break;
    }
    expect(read).toBe(2);
    expect(state).toEqual({ cancelled: true, calls: 1 });
    // Read to the end, nothing is cancelled.
    const whole = cancelWatchingFetch();
    let count = 0;
    for await (const row of client({ tenantId, fetch: whole.fetch }).exportInteractions()) count += row.user_id ? 1 : 0;
    expect(count).toBe(20);
    expect(whole.state).toEqual({ cancelled: false, calls: 1 });
  });

  it("stops reading when the call's signal aborts", async () => {
    await seeded;
    const { fetch, state } = cancelWatchingFetch();
    const controller = new AbortController();
    const rows = client({ tenantId, fetch }).exportEntities({ signal: controller.signal });
    expect((await rows.next()).done).toBe(false);
    controller.abort();
    const error = await (async () => {
      for (;;) {
        if ((await rows.next()).done) return undefined;
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(state.calls).toBe(1);
  });

  it("throws the service's error on the first read", async () => {
    const bad = new RecommendationClient({ baseUrl: service.url, apiKey: 'wrong' });
    const rows = bad.exportEntities();
    await expect(rows.next()).rejects.toBeInstanceOf(AuthenticationError);
  });
});
