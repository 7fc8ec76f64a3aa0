import { describe, expect, it } from 'vitest';
import { NotFoundError, type InteractionRow } from '../src/index.js';
import { bodyOf, client, countingFetch, flakyFetch, unique } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function withEntities(tenantId: string, count: number): Promise<void> {
  await client({ tenantId }).bulkCreateEntities(
    Array.from({ length: count }, (_, i) => ({ entityId: `p${i}`, entityType: 'product', attributes: { i } })),
  );
}

describe('interactions', () => {
  it('records an interaction with every field, a random event id when none is given', async () => {
    const tenantId = unique('rec');
    await withEntities(tenantId, 2);
    const c = client({ tenantId });
    const at = new Date('2024-05-01T12:00:00Z');
    const full = await c.recordInteraction({
      userId: 'u1',
      entityId: 'p0',
      entityType: 'product',
      interactionType: 'rating',
      value: 4,
      weight: 2.5,
      timestamp: at,
      eventId: 'evt-1',
      metadata: { source: 'app' },
    });
    expect(full).toMatchObject({
      user_id: 'u1',
      entity_id: 'p0',
      interaction_type: 'rating',
      value: 4,
      weight: 2.5,
      event_id: 'evt-1',
      metadata: { source: 'app' },
    });
    expect(Date.parse(full.timestamp)).toBe(at.getTime());
    const plain = await c.recordInteraction({ userId: 'u1', entityId: 'p1', interactionType: 'view' });
    expect(plain.event_id).toMatch(UUID);
  });

  it('counts a retried interaction once: the retry carries the same event id', async () => {
    const tenantId = unique('idem');
    await withEntities(tenantId, 1);
    // The first answer is lost after the service stored the interaction.
    const fetch = flakyFetch(1, 'after');
    const c = client({ tenantId, fetch });
    const interaction = await c.recordInteraction({ userId: 'u1', entityId: 'p0', interactionType: 'purchase' });
    expect(fetch.calls).toHaveLength(2);
    const [first, second] = fetch.calls.map(bodyOf);
    expect(first['event_id']).toMatch(UUID);
    expect(second['event_id']).toBe(first['event_id']);
    expect(interaction.event_id).toBe(first['event_id']);
    expect(await client({ tenantId }).listUserInteractions('u1')).toHaveLength(1);
  });

  it('lists and iterates over every page of a user and of an entity', async () => {
    const tenantId = unique('pages');
    await withEntities(tenantId, 7);
    const c = client({ tenantId });
    for (let i = 0; i < 7; i++) {
      await c.recordInteraction({ userId: 'u1', entityId: `p${i}`, interactionType: 'view' });
      await c.recordInteraction({ userId: `u${i + 2}`, entityId: 'p0', interactionType: 'like' });
    }
    expect(await c.listUserInteractions('u1', { limit: 3 })).toHaveLength(3);
    expect(await c.listUserInteractions('u1', { limit: 3, offset: 6 })).toHaveLength(1);
    const fetch = countingFetch();
    const seen: string[] = [];
    for await (const interaction of client({ tenantId, fetch }).iterUserInteractions('u1', { pageSize: 3 })) {
      seen.push(interaction.entity_id);
    }
    expect(seen.sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(fetch.calls).toHaveLength(3);
    expect(fetch.urls[2]).toContain('limit=3&offset=6');

    const page = await c.listEntityInteractions('p0', { entityType: 'product', limit: 5 });
    expect(page).toHaveLength(5);
    const users: string[] = [];
    for await (const interaction of c.iterEntityInteractions('p0', { entityType: 'product', pageSize: 2 })) {
      users.push(interaction.user_id);
    }
    expect(users).toHaveLength(8);
    await expect(c.listUserInteractions('u1', { limit: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it('records interactions in bulk, giving rows without one an event id', async () => {
    const tenantId = unique('ibulk');
    await withEntities(tenantId, 3);
    const fetch = countingFetch();
    const c = client({ tenantId, fetch });
    const report = await c.bulkRecordInteractions([
      { userId: 'u1', entityId: 'p0', interactionType: 'view' },
      { user_id: 'u1', entity_id: 'p1', interaction_type: 'view', event_id: 'mine-1' },
      { userId: 'u1', entityId: 'missing', interactionType: 'view' },
    ]);
    expect(report).toMatchObject({ received: 3, created: 2, failed: 1 });
    expect(report.errors[0]).toMatchObject({ index: 2, reason: 'unknown_entity' });
    const rows = bodyOf(fetch.calls[0])['interactions'] as Record<string, unknown>[];
    expect(rows[0]?.['event_id']).toMatch(UUID);
    expect(rows[1]?.['event_id']).toBe('mine-1');
  });

  it('retries a bulk request whose answer was lost without storing anything twice', async () => {
    const tenantId = unique('iretry');
    await withEntities(tenantId, 4);
    const fetch = flakyFetch(1, 'after');
    const rows: InteractionRow[] = Array.from({ length: 4 }, (_, i) => ({ userId: 'u1', entityId: `p${i}`, interactionType: 'view' }));
    const report = await client({ tenantId, fetch }).bulkRecordInteractions(rows);
    expect(fetch.calls).toHaveLength(2);
    expect(bodyOf(fetch.calls[1])).toEqual(bodyOf(fetch.calls[0]));
    expect(report).toMatchObject({ received: 4, created: 0, skipped: 4, failed: 0 });
    expect(await client({ tenantId }).listUserInteractions('u1')).toHaveLength(4);
  });

  it('imports interactions in chunks with global error indexes', async () => {
    const tenantId = unique('iimport');
    await withEntities(tenantId, 5);
    const rows: InteractionRow[] = Array.from({ length: 12 }, (_, i) => ({
      userId: `u${i}`,
      entityId: i === 5 || i === 11 ? 'missing' : `p${i % 5}`,
      interactionType: 'view',
      eventId: `import-${i}`,
    }));
    const done: number[] = [];
    const c = client({ tenantId });
    const report = await c.importInteractions(rows, { chunkSize: 5, onProgress: (n) => done.push(n) });
    expect(done).toEqual([5, 10, 12]);
    expect(report).toMatchObject({ received: 12, created: 10, failed: 2, skipped: 0 });
    expect(report.errors.map((e) => [e.index, e.reason])).toEqual([
      [5, 'unknown_entity'],
      [11, 'unknown_entity'],
    ]);
    // The same event ids again: stored once.
    const again = await c.importInteractions(rows.filter((_, i) => i !== 5 && i !== 11), { chunkSize: 4 });
    expect(again).toMatchObject({ received: 10, created: 0, skipped: 10, failed: 0 });
  });
});

describe('interaction types', () => {
  it('creates, reads, lists, updates and deletes a custom type', async () => {
    const c = client({ tenantId: unique('types') });
    const name = unique('wish').replace(/-/g, '_').slice(0, 60);
    const created = await c.createInteractionType({ interactionType: name, defaultWeight: 2.5, description: 'wish list' });
    expect(created).toEqual({ interaction_type: name, default_weight: 2.5, built_in: false, description: 'wish list' });
    expect(await c.getInteractionType(name)).toEqual(created);
    const all = await c.listInteractionTypes();
    expect(all.map((t) => t.interaction_type)).toEqual(expect.arrayContaining(['view', 'purchase', name]));
    const updated = await c.updateInteractionType(name, { weight: 3, description: 'changed' });
    expect(updated).toMatchObject({ default_weight: 3, description: 'changed' });
    await c.deleteInteractionType(name);
    await expect(c.getInteractionType(name)).rejects.toBeInstanceOf(NotFoundError);
  });
});
