import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError, type BulkResult, type EntityRow, type MergedBulkResult, mergeReport } from '../src/index.js';
import { bodyOf, client, countingFetch, unique } from './helpers.js';

describe('entities', () => {
  it('works as the quick start shows', async () => {
    const c = client({ tenantId: unique('quick') });
    const entityId = unique('product');
    const entity = await c.createEntity({
      entityId,
      entityType: 'product',
      attributes: { name: 'Laptop', price: 999.99 },
    });
    expect(entity).toMatchObject({ entity_id: entityId, entity_type: 'product', attributes: { name: 'Laptop', price: 999.99 } });
    const recommendations = await c.getUserRecommendations('user-456', { count: 10 });
    expect(recommendations.user_id).toBe('user-456');
    expect(Array.isArray(recommendations.recommendations)).toBe(true);
  });

  it('creates, reads, updates and deletes an entity', async () => {
    const c = client({ tenantId: unique('crud') });
    const id = unique('e');
    const created = await c.createEntity({ entityId: id, entityType: 'book', attributes: { title: 'Dune' } });
    expect(created.tenant_id).toBe(c.tenantId);
    expect(await c.getEntity(id)).toMatchObject({ entity_id: id, attributes: { title: 'Dune' } });
    expect(await c.getEntity(id, { entityType: 'book' })).toMatchObject({ entity_type: 'book' });
    const updated = await c.updateEntity(id, { attributes: { title: 'Dune Messiah' }, entityType: 'book' });
    expect(updated.attributes).toEqual({ title: 'Dune Messiah' });
    await expect(c.deleteEntity(id, { entityType: 'book' })).resolves.toBeUndefined();
    await expect(c.getEntity(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('sends ids with reserved characters in the path', async () => {
    const c = client({ tenantId: unique('ids') });
    const id = `sku:1+2=3@x~${unique('y')}`;
    await c.createEntity({ entityId: id, entityType: 'product' });
    expect((await c.getEntity(id)).entity_id).toBe(id);
  });

  it('reports a duplicate and an invalid entity', async () => {
    const c = client({ tenantId: unique('dup') });
    const id = unique('e');
    await c.createEntity({ entityId: id, entityType: 'product' });
    await expect(c.createEntity({ entityId: id, entityType: 'product' })).rejects.toBeInstanceOf(ConflictError);
    const invalid = await c.createEntity({ entityId: 'not valid', entityType: 'product' }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as ValidationError).details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: expect.stringContaining('entity_id') as unknown })]),
    );
  });

  it('creates entities in bulk from camelCase or snake_case rows', async () => {
    const c = client({ tenantId: unique('bulk') });
    const report = await c.bulkCreateEntities([
      { entityId: 'a', entityType: 'product', attributes: { n: 1 } },
      { entity_id: 'b', entity_type: 'product', attributes: { n: 2 } },
      { entityId: 'bad id', entityType: 'product' },
    ]);
    expect(report).toMatchObject({ received: 3, created: 2, failed: 1 });
    expect(report.errors.map((e) => e.index)).toEqual([2]);
    expect((await c.getEntity('b')).attributes).toEqual({ n: 2 });
  });

  it('refuses a bulk request over the service limit', async () => {
    const c = client({ tenantId: unique('big') });
    const rows = Array.from({ length: 501 }, (_, i) => ({ entityId: `e${i}`, entityType: 'product' }));
    const error = await c.bulkCreateEntities(rows).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error).toMatchObject({ status: 413, code: 'payload_too_large' });
  });

  it('imports an async iterable in chunks into one report with global error indexes', async () => {
    const c = client({ tenantId: unique('import') });
    const bad = new Set([3, 14, 22]);
    async function* rows(): AsyncGenerator<EntityRow> {
      for (let i = 0; i < 25; i++) {
        await Promise.resolve();
        yield { entityId: bad.has(i) ? `bad id ${i}` : `e${i}`, entityType: 'product', attributes: { i } };
      }
    }
    const progress: [number, number][] = [];
    const fetch = countingFetch();
    const report = await client({ tenantId: c.tenantId, fetch }).importEntities(rows(), {
      chunkSize: 10,
      onProgress: (done, soFar) => progress.push([done, soFar.failed]),
    });
    expect(fetch.calls).toHaveLength(3);
    expect(fetch.calls.map((init) => (bodyOf(init)['entities'] as unknown[]).length)).toEqual([10, 10, 5]);
    expect(progress).toEqual([
      [10, 1],
      [20, 2],
      [25, 3],
    ]);
    expect(report).toMatchObject({ received: 25, created: 22, updated: 0, failed: 3, total_records: 25, processed: 25, successful: 22, status: 'partial' });
    expect(report.errors.map((e) => e.index)).toEqual([3, 14, 22]);
    expect(report.errors.every((e) => e.reason === 'invalid')).toBe(true);
    expect(typeof report.job_id).toBe('string');

    // Again: every row an update now.
    const again = await c.importEntities(
      Array.from({ length: 25 }, (_, i) => ({ entityId: `e${i}`, entityType: 'product', attributes: { i, again: true } })).filter((_, i) => !bad.has(i)),
      { chunkSize: 7 },
    );
    expect(again).toMatchObject({ received: 22, created: 0, updated: 22, failed: 0, errors: [], status: 'completed' });
  });

  it('uses the client-wide chunk size, and sends nothing for no rows', async () => {
    const fetch = countingFetch();
    const c = client({ tenantId: unique('chunk'), fetch, bulkChunkSize: 4 });
    const report: MergedBulkResult = await c.importEntities(
      Array.from({ length: 9 }, (_, i) => ({ entityId: `e${i}`, entityType: 'product' })),
    );
    expect(fetch.calls).toHaveLength(3);
    expect(report).toMatchObject({ received: 9, created: 9 });
    expect(await c.importEntities([])).toEqual({
      received: 0,
      created: 0,
      updated: 0,
      skipped: 0,
      failed: 0,
      errors: [],
      job_id: null,
      status: 'completed',
      total_records: 0,
      processed: 0,
      successful: 0,
    });
    expect(fetch.calls).toHaveLength(3);
    await expect(c.importEntities([], { chunkSize: 0 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('merging bulk reports', () => {
  const part = (over: Partial<BulkResult>): BulkResult => ({
    received: 2,
    created: 2,
    updated: 0,
    skipped: 0,
    failed: 0,
    errors: [],
    job_id: 'job',
    status: 'completed',
    total_records: 2,
    processed: 2,
    successful: 2,
    ...over,
  });

  it('adds up counts, re-indexes errors, keeps the first job id and works out the status', () => {
    const error = { index: 1, reason: 'invalid', details: null, error: 'bad', entity_id: 'x', user_id: null };
    let report = mergeReport(undefined, part({ job_id: 'first' }), 0);
    expect(report).toMatchObject({ job_id: 'first', status: 'completed', received: 2 });
    report = mergeReport(report, part({ job_id: 'second', created: 1, failed: 1, successful: 1, status: 'partial', errors: [error] }), 2);
    expect(report).toMatchObject({ job_id: 'first', status: 'partial', received: 4, created: 3, failed: 1, successful: 3, total_records: 4 });
    expect(report.errors).toEqual([{ ...error, index: 3 }]);
    const allFailed = mergeReport(undefined, part({ created: 0, failed: 2, successful: 0, status: 'failed' }), 0);
    expect(mergeReport(allFailed, part({ created: 0, failed: 2, successful: 0, status: 'failed' }), 2)).toMatchObject({ status: 'failed', failed: 4 });
  });
});
