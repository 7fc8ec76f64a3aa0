/** Bulk imports: rows to the service's field names, chunks of an (async) iterable, merged reports. */
import type { BulkResult, RowError } from './types.js';
import { randomUUID } from './uuid.js';

/** camelCase argument names and the service's field names. */
export const ENTITY_FIELDS: Readonly<Record<string, string>> = {
  entityId: 'entity_id',
  entityType: 'entity_type',
  featureVector: 'feature_vector',
};

export const INTERACTION_FIELDS: Readonly<Record<string, string>> = {
  userId: 'user_id',
  entityId: 'entity_id',
  entityType: 'entity_type',
  interactionType: 'interaction_type',
  eventId: 'event_id',
};

export const TENANT_CONFIG_FIELDS: Readonly<Record<string, string>> = {
  collaborativeWeight: 'collaborative_weight',
  contentBasedWeight: 'content_based_weight',
  similarityThreshold: 'similarity_threshold',
  defaultRecommendationCount: 'default_recommendation_count',
  maxRecommendationCount: 'max_recommendation_count',
};

/**
 * `row` with the service's field names: the camelCase names in `fields` renamed, other
 * fields kept as they are, undefined ones left out, Dates as RFC 3339 text.
 */
export function toWire(row: object, fields: Readonly<Record<string, string>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (value === undefined) continue;
    out[fields[name] ?? name] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}

/** Give every interaction row without one an `event_id`, so that a retried request stores nothing twice. */
export function withEventIds(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  for (const row of rows) {
    if (!row['event_id']) row['event_id'] = randomUUID();
  }
  return rows;
}

/** The rows of `rows` in arrays of `size`, read lazily. */
export async function* chunks<T>(rows: Iterable<T> | AsyncIterable<T>, size: number): AsyncGenerator<T[], void, undefined> {
  let chunk: T[] = [];
  for await (const row of rows) {
    chunk.push(row);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** The report of an import that sent nothing. */
export function emptyReport(): BulkResult {
  return { received: 0, created: 0, updated: 0, skipped: 0, failed: 0, errors: [] } as unknown as BulkResult;
}

/**
 * Merge `part` (the report on rows starting at `offset` of the whole input) into
 * `report` (undefined for the first part): counts are added up, row errors re-indexed
 * to the whole input, `status` (when the service reports one) worked out again from the
 * sums, and any other field (such as `job_id`) is the latest part's.
 */
export function mergeReport(report: BulkResult | undefined, part: BulkResult, offset: number): BulkResult {
  const merged: Record<string, unknown> = { ...(report ?? emptyReport()) };
  for (const [name, value] of Object.entries(part)) {
    if (name === 'errors') continue;
    if (typeof value === 'number') {
      const before = merged[name];
      merged[name] = (typeof before === 'number' && report !== undefined ? before : 0) + value;
    } else {
      merged[name] = value;
    }
  }
  const errors: RowError[] = report ? [...report.errors] : [];
  for (const error of part.errors) errors.push({ ...error, index: error.index + offset });
  merged['errors'] = errors;
  if ('status' in part) {
    const failed = Number(merged['failed'] ?? 0);
    const received = Number(merged['received'] ?? 0);
    merged['status'] = failed === 0 ? 'completed' : failed >= received ? 'failed' : 'partial';
  }
  return merged as unknown as BulkResult;
}
