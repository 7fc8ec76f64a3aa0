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
  recommendationId: 'recommendation_id',
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

/**
 * The report of `importEntities`/`importInteractions`: the service's bulk report, for the
 * whole input. `job_id` is that of the first request (null when there were no rows).
 */
export type MergedBulkResult = Omit<BulkResult, 'job_id'> & { job_id: BulkResult['job_id'] | null };

/** The report of an import that sent nothing. */
export function emptyReport(): MergedBulkResult {
  return {
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
  };
}

/**
 * Merge `part` (the service's report on the rows starting at `offset` of the whole
 * input) into `report`: every count is added up, row errors are re-indexed to the whole
 * input, `job_id` (and any other field that is not a count) stays the first request's,
 * and `status` is worked out again: `completed` when no row failed, else `partial` when
 * some succeeded, else `failed`.
 */
export function mergeReport(report: MergedBulkResult | undefined, part: BulkResult, offset: number): MergedBulkResult {
  const merged: Record<string, unknown> = report ? { ...report } : { ...emptyReport(), job_id: undefined };
  for (const [name, value] of Object.entries(part)) {
    if (name === 'errors' || name === 'status') continue;
    const before = merged[name];
    if (typeof value === 'number') {
      merged[name] = (typeof before === 'number' ? before : 0) + value;
    } else if (before === undefined || before === null) {
      merged[name] = value;
    }
  }
  const errors: RowError[] = report ? [...report.errors] : [];
  for (const error of part.errors) errors.push({ ...error, index: error.index + offset });
  merged['errors'] = errors;
  merged['job_id'] = merged['job_id'] ?? null;
  const failed = Number(merged['failed']);
  const successful = typeof part.successful === 'number' ? Number(merged['successful']) : Number(merged['received']) - failed;
  merged['status'] = failed === 0 ? 'completed' : successful > 0 ? 'partial' : 'failed';
  return merged as MergedBulkResult;
}
