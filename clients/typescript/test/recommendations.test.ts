import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../src/index.js';
import { client, countingFetch, eventually, unique } from './helpers.js';

describe('recommendations', () => {
  const tenantId = unique('recs');
  const c = client({ tenantId });
  const trained = (async () => {
    const categories = ['audio', 'video', 'books'];
    await c.bulkCreateEntities(
      Array.from({ length: 12 }, (_, i) => ({
        entityId: `p${i}`,
        entityType: 'product',
        attributes: { category: categories[i % 3], price: 10 + i },
      })),
    );
    const rows = [];
    for (let u = 0; u < 6; u++) {
      for (let i = 0; i < 12; i++) {
        if ((u + i) % 3 === 0 || (u * i) % 5 === 1) rows.push({ userId: `u${u}`, entityId: `p${i}`, interactionType: 'purchase' });
      }
    }
    await c.bulkRecordInteractions(rows);
    const accepted = await c.rebuildModel();
    expect(accepted.status).toBe('accepted');
    await eventually(async () => {
      const status = await c.getModelStatus();
      return !status.building && status.version !== null ? status : undefined;
    }, 20_000, 200);
  })();

  it('builds a model and reports its status', async () => {
    await trained;
    const status = await c.getModelStatus();
    expect(status).toMatchObject({ building: false, users: 6, entities: 12 });
    expect(typeof status.version).toBe('number');
    const incremental = await c.rebuildModel({ incremental: true });
    expect(incremental.status).toBeTruthy();
  });

  it('recommends for a user with every parameter', async () => {
    await trained;
    const fetch = countingFetch();
    const recs = await client({ tenantId, fetch }).getUserRecommendations('u1', {
      count: 4,
      algorithm: 'hybrid',
      entityType: 'product',
      exclude: ['p2', 'p5'],
      excludeSeen: true,
      collaborativeWeight: 0.7,
      contentBasedWeight: 0.3,
      filters: { category: 'audio' },
    });
    const url = new URL(fetch.urls[0] ?? '');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      count: '4',
      algorithm: 'hybrid',
      entity_type: 'product',
      exclude: 'p2,p5',
      exclude_seen: 'true',
      collaborative_weight: '0.7',
      content_based_weight: '0.3',
      'filter.category': 'audio',
    });
    expect(recs.user_id).toBe('u1');
    expect(recs.recommendations.length).toBeLessThanOrEqual(4);
    for (const rec of recs.recommendations) {
      expect(['p2', 'p5']).not.toContain(rec.entity_id);
      expect(rec.attributes['category']).toBe('audio');
    }
    const plain = await c.getUserRecommendations('u2');
    expect(plain.recommendations.length).toBeGreaterThan(0);
    expect(typeof plain.cold_start).toBe('boolean');
    await expect(c.getUserRecommendations('u2', { count: 100_000 })).rejects.toBeInstanceOf(BadRequestError);
  });

  it('finds similar entities', async () => {
    await trained;
    const similar = await c.getSimilarEntities('p0', { entityType: 'product', count: 3, exclude: ['p1'] });
    expect(similar).toMatchObject({ entity_id: 'p0', entity_type: 'product' });
    expect(similar.recommendations.length).toBeLessThanOrEqual(3);
    expect(similar.recommendations.map((r) => r.entity_id)).not.toContain('p1');
    const filtered = await c.getSimilarEntities('p0', { algorithm: 'content_based', resultType: 'product', filters: { category: 'video' } });
    for (const rec of filtered.recommendations) expect(rec.attributes['category']).toBe('video');
  });

  it('lists trending entities', async () => {
    await trained;
    const trending = await c.getTrending({ entityType: 'product', count: 5, windowDays: 7 });
    expect(trending).toMatchObject({ window_days: 7, entity_type: 'product' });
    expect(trending.trending.length).toBeLessThanOrEqual(5);
    expect(Array.isArray((await c.getTrending()).trending)).toBe(true);
  });
});
