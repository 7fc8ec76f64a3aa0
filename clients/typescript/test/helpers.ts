/** What the tests share: clients of the running services, unique ids, fetch wrappers. */
import { inject } from 'vitest';
import { RecommendationClient, type ClientOptions, type FetchLike } from '../src/index.js';

export const service = inject('service');
export const limitedService = inject('limitedService');

let counter = 0;

/** An id unique to this run and call (the tests share one service). */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`;
}

/** A client of the main service with the administrator key. */
export function client(options: ClientOptions = {}): RecommendationClient {
  return new RecommendationClient({ baseUrl: service.url, apiKey: service.apiKey, backoffMs: 10, ...options });
}

/** The real fetch, counting calls and keeping each request's init. */
export function countingFetch(): FetchLike & { calls: RequestInit[]; urls: string[] } {
  const calls: RequestInit[] = [];
  const urls: string[] = [];
  const wrapped = (input: string, init: RequestInit): Promise<Response> => {
    calls.push(init);
    urls.push(input);
    return fetch(input, init);
  };
  return Object.assign(wrapped, { calls, urls });
}

/**
 * Fails the first `failures` calls as a dropped connection would: `'before'` without
 * sending anything, `'after'` once the service has answered (the answer is lost). Later
 * calls go to the service.
 */
export function flakyFetch(failures: number, when: 'before' | 'after'): FetchLike & { calls: RequestInit[] } {
  const calls: RequestInit[] = [];
  const wrapped = async (input: string, init: RequestInit): Promise<Response> => {
    calls.push(init);
    if (calls.length > failures) return fetch(input, init);
    if (when === 'after') {
      const response = await fetch(input, init);
      await response.arrayBuffer();
    }
    throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
  };
  return Object.assign(wrapped, { calls });
}

/** Never answers: waits until the request's signal aborts (a timeout, or the caller). */
export function hangingFetch(): FetchLike & { calls: RequestInit[] } {
  const calls: RequestInit[] = [];
  const wrapped = (_input: string, init: RequestInit): Promise<Response> => {
    calls.push(init);
    return new Promise((_resolve, reject) => {
      const signal = init.signal;
      signal?.addEventListener('abort', () => {
        reject(signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'));
      });
    });
  };
  return Object.assign(wrapped, { calls });
}

/** The body of a request as JSON. */
export function bodyOf(init: RequestInit | undefined): Record<string, unknown> {
  return JSON.parse(typeof init?.body === 'string' ? init.body : 'null') as Record<string, unknown>;
}

/** Polls `check` until it gives a value other than undefined, or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 15_000, every = 100): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not so within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}
