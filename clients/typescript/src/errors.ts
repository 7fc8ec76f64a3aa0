/**
 * The errors the client throws. Every one derives from {@link RecommendationError} and
 * carries the service's `{"error": {"code", "message", "details"}}` body, the HTTP
 * status and the answer's `X-Request-ID`.
 */

/** What every error of the client carries. */
export interface RecommendationErrorInit {
  /** A machine-readable code: the service's (`not_found`, `validation_error`, ...) or the client's (`connection_error`, `timeout`, ...). */
  code?: string;
  /** More about the error: for a 422, one entry per invalid field. */
  details?: unknown;
  /** The HTTP status; undefined when no answer came. */
  status?: number;
  /** The answer's X-Request-ID, to find the request in the service's logs. */
  requestId?: string;
  /** Seconds to wait, from a Retry-After header (429 and 503). */
  retryAfter?: number;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The base of every error this client throws. */
export class RecommendationError extends Error {
  /** A machine-readable code, from the service's error body or the client. */
  readonly code: string;
  /** More about the error (the service's `details`); a 422 lists each field. */
  readonly details: unknown;
  /** The HTTP status; undefined when no answer came. */
  readonly status: number | undefined;
  /** The answer's X-Request-ID header. */
  readonly requestId: string | undefined;

  constructor(message: string, init: RecommendationErrorInit = {}) {
    super(message);
    if (init.cause !== undefined) {
      Object.defineProperty(this, 'cause', { value: init.cause, writable: true, configurable: true });
    }
    this.name = new.target.name;
    this.code = init.code ?? 'error';
    this.details = init.details;
    this.status = init.status;
    this.requestId = init.requestId;
  }
}

/** No answer from the service: connection refused or reset, DNS failure, ... (`status` is undefined). */
export class APIConnectionError extends RecommendationError {}

/** No answer within `timeoutMs`. */
export class APITimeoutError extends APIConnectionError {}

/** 400: a malformed request (a header, a count above the maximum, ...). */
export class BadRequestError extends RecommendationError {}

/** 401: a missing or wrong API key. */
export class AuthenticationError extends RecommendationError {}

/** 403: the key may not do this (another tenant's data, an administration route). */
export class PermissionDeniedError extends RecommendationError {}

/** 404: the entity, interaction type, webhook, tenant or route does not exist. */
export class NotFoundError extends RecommendationError {}

/** 409: exists already, an ambiguous entity type, or still in use. */
export class ConflictError extends RecommendationError {}

/** 413: the body or the bulk request is over the service's limit. */
export class PayloadTooLargeError extends RecommendationError {}

/** 422: the body or a parameter is invalid; `details` lists each field. */
export class ValidationError extends RecommendationError {}

/** 429: over the rate limit; `retryAfter` is the seconds to wait, when the service said. */
export class RateLimitError extends RecommendationError {
  readonly retryAfter: number | undefined;

  constructor(message: string, init: RecommendationErrorInit = {}) {
    super(message, init);
    this.retryAfter = init.retryAfter;
  }
}

/** 5xx: a fault of the service. */
export class ServerError extends RecommendationError {}

/** 503: the service or its database is unavailable for now; `retryAfter` in seconds. */
export class ServiceUnavailableError extends ServerError {
  readonly retryAfter: number | undefined;

  constructor(message: string, init: RecommendationErrorInit = {}) {
    super(message, init);
    this.retryAfter = init.retryAfter;
  }
}

/** Why {@link WebhookVerificationError} refused a webhook request. */
export type WebhookVerificationCode =
  | 'bad_signature'
  | 'stale_timestamp'
  | 'bad_timestamp'
  | 'missing_signature'
  | 'bad_body';

/** A webhook request whose signature, timestamp or body does not check out. */
export class WebhookVerificationError extends RecommendationError {
  declare readonly code: WebhookVerificationCode;

  constructor(message: string, code: WebhookVerificationCode, details?: unknown) {
    super(message, { code, details });
  }
}

const BY_STATUS: Record<number, new (message: string, init: RecommendationErrorInit) => RecommendationError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  422: ValidationError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

/** Seconds from a Retry-After header given in seconds (an HTTP date counts from now). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/**
 * The error for a non-2xx answer, from its status, headers and body text (the service's
 * `{"error": {"code", "message", "details"}}`; any other body becomes the message).
 */
export function errorFromResponse(status: number, headers: Headers, bodyText: string): RecommendationError {
  let code = 'http_error';
  let message = `HTTP ${status}`;
  let details: unknown;
  let parsed: unknown;
  try {
    parsed = bodyText ? JSON.parse(bodyText) : undefined;
  } catch {
    parsed = undefined;
  }
  const error = isObject(parsed) && isObject(parsed['error']) ? parsed['error'] : undefined;
  if (error) {
    if (error['code'] !== undefined) code = asText(error['code']);
    if (error['message'] !== undefined) message = asText(error['message']);
    details = error['details'] ?? undefined;
  } else if (bodyText) {
    message = bodyText.slice(0, 500);
  }
  const init: RecommendationErrorInit = {
    code,
    details,
    status,
    requestId: headers.get('x-request-id') ?? undefined,
    retryAfter: parseRetryAfter(headers.get('retry-after')),
  };
  const ErrorClass = BY_STATUS[status] ?? (status >= 500 ? ServerError : RecommendationError);
  return new ErrorClass(message, init);
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
