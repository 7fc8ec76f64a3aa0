/**
 * Starts the real service twice for the whole run, and stops both afterwards:
 * - `service`: multi-tenant, no rate limit, bulk requests of at most 500 rows, one
 *   delivery attempt per webhook event;
 * - `limitedService`: a rate limit of 2 requests in a burst, then 1 a second.
 */
import type { TestProject } from 'vitest/node';
import { startService } from '../scripts/service.mjs';

export interface ServiceInfo {
  url: string;
  apiKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    service: ServiceInfo;
    limitedService: ServiceInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = await Promise.allSettled([
    startService({ ENABLE_MULTI_TENANCY: 'true', MAX_BULK_ITEMS: '500', WEBHOOK_MAX_ATTEMPTS: '1' }),
    startService({
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_REQUESTS_PER_MINUTE: '60',
      RATE_LIMIT_BURST_SIZE: '2',
    }),
  ]);
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : Promise.resolve())));
  };
  const [main, limited] = started;
  if (main.status === 'rejected' || limited.status === 'rejected') {
    await stopAll();
    throw main.status === 'rejected' ? main.reason : (limited as PromiseRejectedResult).reason;
  }
  project.provide('service', { url: main.value.url, apiKey: main.value.apiKey });
  project.provide('limitedService', { url: limited.value.url, apiKey: limited.value.apiKey });
  return stopAll;
}
