/**
 * Sending requests: URL and headers, the per-attempt timeout, the caller's AbortSignal,
 * retries with exponential backoff and jitter, and reading answers (JSON, text, or a
 * stream of NDJSON lines).
 */
import {
  APIConnectionError,
  APITimeoutError,
  RecommendationError,
  errorFromResponse,
} from './errors.js';
import { VERSION } from './version.js';

/** The `fetch` the client calls: the global one, or one of your own. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Options every method takes as its last argument. */
export interface RequestOptions {
  /** The tenant to act for in this call only (sent as X-Tenant-ID), instead of the client's `tenantId`. */
  tenantId?: string;
  /** Cancels the call (retries and backoff waits included); the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A query parameter: left out when undefined or null; arrays are sent comma-separated. */
export type QueryValue = string | number | boolean | readonly (string | number)[] | null | undefined;

/** Whether this runs in a browser (a page or a worker). */
const IN_BROWSER =
  typeof (globalThis as { document?: unknown }).document !== 'undefined' ||
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

/** HTTP statuses after which an idempotent request is sent again. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** One API request. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path, its parameters already encoded. */
  path: string;
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  body?: unknown;
  /** True when sending it twice does what sending it once does (GET, PUT and DELETE always are). */
  idempotent?: boolean;
  options?: RequestOptions | undefined;
  /** The Accept header (default application/json). */
  accept?: string;
}

/** The transport's settings, as the client resolved them. */
export interface TransportSettings {
  baseUrl: string;
  apiKey: string | undefined;
  tenantId: string | undefined;
  maxRetries: number;
  timeoutMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  headers: Record<string, string>;
  fetch: FetchLike | undefined;
}

/**
 * Milliseconds to wait before retry number `attempt` (1-based): `backoffMs * 2^(attempt-1)`
 * capped at `maxBackoffMs`, randomised between half and all of it; or, when the service
 * answered with Retry-After (seconds), that long (capped at `maxBackoffMs`) plus up to
 * 100 ms.
 */
export function retryDelay(
  attempt: number,
  backoffMs: number,
  maxBackoffMs: number,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterSeconds !== undefined) {
    return Math.min(retryAfterSeconds * 1000, maxBackoffMs) + random() * 100;
  }
  const full = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
  return full / 2 + random() * (full / 2);
}

/** The query string for `query`, starting with `?` (empty when there is nothing to send). */
export function queryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      params.append(name, value.join(','));
    } else {
      params.append(name, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The reason an aborted signal rejects with (an AbortError when it gave none). */
export function abortReason(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason;
  return new DOMException('This operation was aborted', 'AbortError');
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the caller's reason, whatever it is
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the caller's reason, whatever it is
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An AbortSignal for one attempt: aborted by the caller's signal or by the timeout. */
class AttemptSignal {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onCallerAbort = (): void => {
    this.controller.abort(this.caller ? abortReason(this.caller) : undefined);
  };
  timedOut = false;

  constructor(
    private readonly caller: AbortSignal | undefined,
    timeoutMs: number,
  ) {
    if (caller) {
      if (caller.aborted) this.onCallerAbort();
      else caller.addEventListener('abort', this.onCallerAbort, { once: true });
    }
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
      }, timeoutMs);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stop the timeout (the caller's signal still aborts). */
  stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Forget both. */
  release(): void {
    this.stopTimer();
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }

  /** What a failure of fetch or of reading the body becomes. */
  failure(error: unknown, timeoutMs: number): unknown {
    if (this.caller?.aborted) return abortReason(this.caller);
    if (error instanceof RecommendationError) return error;
    if (this.timedOut) {
      return new APITimeoutError(`no answer within ${timeoutMs} ms`, { code: 'timeout', cause: error });
    }
    const text = error instanceof Error ? error.message : String(error);
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return new APIConnectionError(`connection failed: ${text}${cause}`, {
      code: 'connection_error',
      cause: error,
    });
  }
}

/** A successful answer whose body is still to be read, and the attempt's signal to release after. */
interface OpenResponse {
  response: Response;
  attempt: AttemptSignal;
}

/** Sends requests for the client. */
export class Transport {
  constructor(readonly settings: TransportSettings) {}

  private fetchFn(): FetchLike {
    const injected = this.settings.fetch;
    if (injected) return injected;
    if (typeof globalThis.fetch !== 'function') {
      throw new RecommendationError('no global fetch: pass one as the `fetch` option', { code: 'no_fetch' });
    }
    return (input, init) => globalThis.fetch(input, init);
  }

  /** The URL of `request`. */
  url(request: ApiRequest): string {
    return this.settings.baseUrl + request.path + queryString(request.query);
  }

  /** The headers of `request`. */
  headers(request: ApiRequest): Headers {
    const headers = new Headers({ Accept: request.accept ?? 'application/json' });
    // Not from a browser: there a User-Agent would have to pass the service's CORS rules.
    if (!IN_BROWSER) headers.set('User-Agent', `recommendation-engine-client-ts/${VERSION}`);
    if (this.settings.apiKey) headers.set('X-API-Key', this.settings.apiKey);
    for (const [name, value] of Object.entries(this.settings.headers)) headers.set(name, value);
    const tenant = request.options?.tenantId ?? this.settings.tenantId;
    if (tenant) headers.set('X-Tenant-ID', tenant);
    if (request.body !== undefined) headers.set('Content-Type', 'application/json');
    return headers;
  }

  /**
   * Send `request` until it gets a 2xx answer, retrying an idempotent one after a
   * connection error, a timeout or a 429/502/503/504; `read` reads the answer's body
   * within the attempt's timeout (undefined: the body is left for the caller, after
   * the timeout is stopped).
   */
  private send<T>(request: ApiRequest, read: (response: Response) => Promise<T>): Promise<T>;
  private send(request: ApiRequest, read: undefined): Promise<OpenResponse>;
  private async send<T>(request: ApiRequest, read: ((response: Response) => Promise<T>) | undefined): Promise<T | OpenResponse> {
    const caller = request.options?.signal;
    const { maxRetries, timeoutMs, backoffMs, maxBackoffMs } = this.settings;
    const fetchFn = this.fetchFn();
    const url = this.url(request);
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const idempotent = request.idempotent ?? request.method !== 'POST';
    for (let attempt = 0; ; attempt++) {
      if (caller?.aborted) throw abortReason(caller);
      const signal = new AttemptSignal(caller, timeoutMs);
      let error: unknown;
      let retryAfter: number | undefined;
      try {
        const init: RequestInit = { method: request.method, headers: this.headers(request), signal: signal.signal };
        if (body !== undefined) init.body = body;
        const response = await fetchFn(url, init);
        if (response.ok) {
          if (read === undefined) {
            signal.stopTimer();
            return { response, attempt: signal };
          }
          const result = await read(response);
          signal.release();
          return result;
        }
        const text = await response.text();
        signal.release();
        const failure = errorFromResponse(response.status, response.headers, text);
        if (!RETRY_STATUSES.has(response.status)) throw failure;
        error = failure;
        retryAfter = (failure as { retryAfter?: number }).retryAfter;
      } catch (thrown) {
        signal.release();
        const failure = signal.failure(thrown, timeoutMs);
        if (!(failure instanceof APIConnectionError)) throw failure;
        error = failure;
      }
      if (!idempotent || attempt >= maxRetries) throw error;
      await sleep(retryDelay(attempt + 1, backoffMs, maxBackoffMs, retryAfter), caller);
    }
  }

  /** Send `request` and parse its JSON answer (undefined for an empty one, as after a 204). */
  async json<T>(request: ApiRequest): Promise<T> {
    return this.send(request, async (response) => {
      const text = await response.text();
      if (!text) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new RecommendationError('the service answered with a body that is not JSON', {
          code: 'invalid_response',
          status: response.status,
          requestId: response.headers.get('x-request-id') ?? undefined,
          details: text.slice(0, 500),
          cause: error,
        });
      }
    });
  }

  /** Send `request` and return its answer as text. */
  async text(request: ApiRequest): Promise<string> {
    return this.send(request, (response) => response.text());
  }

  /**
   * Send `request` and yield the non-empty lines of its answer as they arrive, reading
   * the body stream; stopping early cancels the stream. Nothing is sent before the
   * first line is asked for.
   */
  async *lines(request: ApiRequest): AsyncGenerator<string, void, undefined> {
    const { response, attempt } = await this.send(request, undefined);
    try {
      const body = response.body;
      if (!body) {
        for (const line of (await response.text()).split('\n')) if (line.trim()) yield line;
        return;
      }
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let finished = false;
      let buffer = '';
      try {
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buffer += decoder.decode(chunk.value, { stream: true });
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) if (line.trim()) yield line;
        }
        buffer += decoder.decode();
        finished = true;
        if (buffer.trim()) yield buffer;
      } finally {
        if (!finished) await reader.cancel().catch(() => undefined);
        reader.releaseLock();
      }
    } catch (error) {
      throw attempt.failure(error, this.settings.timeoutMs);
    } finally {
      attempt.release();
    }
  }
}
