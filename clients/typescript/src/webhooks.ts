/**
 * Checking the signature of the service's webhook requests, with Web Crypto (HMAC
 * SHA-256): `X-Webhook-Signature: sha256=<hex HMAC of "<X-Webhook-Timestamp>.<raw body>">`.
 */
import { WebhookVerificationError } from './errors.js';
import type { WebhookEvent } from './types.js';

/** A request's headers: a `Headers` object or a plain record (names in any case). */
export type WebhookHeaders =
  | Headers
  | { get(name: string): string | null }
  | Record<string, string | readonly string[] | null | undefined>;

/** A webhook request's body, exactly as received. */
export type WebhookBody = string | ArrayBuffer | ArrayBufferView;

/** `verifyWebhook`'s options. */
export interface VerifyWebhookOptions {
  /** How many seconds the X-Webhook-Timestamp may be from now (default 300). */
  tolerance?: number;
  /** Now, as seconds since the epoch or a Date (default: the clock). */
  now?: number | Date;
  /** The Web Crypto implementation (default `globalThis.crypto`; on Node 18 pass `require('node:crypto').webcrypto`). */
  crypto?: Crypto;
}

const encoder = new TextEncoder();

function bytesOf(body: WebhookBody): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

function subtleOf(crypto: Crypto | undefined): SubtleCrypto {
  const subtle = (crypto ?? (globalThis as { crypto?: Crypto }).crypto)?.subtle;
  if (!subtle) {
    throw new TypeError('Web Crypto is not available: pass { crypto } (on Node 18: require("node:crypto").webcrypto)');
  }
  return subtle;
}

async function hmac(secret: string, timestamp: string, body: WebhookBody, crypto?: Crypto): Promise<Uint8Array> {
  const subtle = subtleOf(crypto);
  const key = await subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const prefix = encoder.encode(`${timestamp}.`);
  const raw = bytesOf(body);
  const message = new Uint8Array(prefix.length + raw.length);
  message.set(prefix, 0);
  message.set(raw, prefix.length);
  return new Uint8Array(await subtle.sign('HMAC', key, message));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromHex(text: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) return undefined;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Whether `a` and `b` hold the same bytes, in time that depends on their length only. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== wanted || value === undefined || value === null) continue;
    const first: unknown = Array.isArray(value) ? value[0] : value;
    return typeof first === 'string' ? first : undefined;
  }
  return undefined;
}

/**
 * The X-Webhook-Signature value for `body` sent at `timestamp` (seconds since the
 * epoch): `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
 * For tests of your receiver.
 */
export async function signWebhook(
  body: WebhookBody,
  secret: string,
  timestamp: number | string,
  options: { crypto?: Crypto } = {},
): Promise<string> {
  return `sha256=${hex(await hmac(secret, String(timestamp), body, options.crypto))}`;
}

/**
 * Check a webhook request from the service and return its event.
 *
 * `body`: the raw body, exactly as received (before any JSON parsing); `headers`: the
 * request's headers; `secret`: the subscription's secret. Throws
 * {@link WebhookVerificationError} with code `missing_signature` (no X-Webhook-Signature
 * or X-Webhook-Timestamp), `bad_timestamp` (not a number), `stale_timestamp` (more than
 * `tolerance` seconds from now), `bad_signature` (the HMAC does not match; compared in
 * constant time) or `bad_body` (not a JSON object).
 */
export async function verifyWebhook(
  body: WebhookBody,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent> {
  const tolerance = options.tolerance ?? 300;
  const timestamp = header(headers, 'X-Webhook-Timestamp')?.trim();
  const signature = header(headers, 'X-Webhook-Signature')?.trim();
  if (!timestamp || !signature) {
    throw new WebhookVerificationError('missing X-Webhook-Timestamp or X-Webhook-Signature', 'missing_signature');
  }
  if (!/^\d+$/.test(timestamp)) {
    throw new WebhookVerificationError('malformed X-Webhook-Timestamp', 'bad_timestamp');
  }
  const sentAt = Number(timestamp);
  const now = options.now instanceof Date ? options.now.getTime() / 1000 : (options.now ?? Date.now() / 1000);
  if (Math.abs(now - sentAt) > tolerance) {
    throw new WebhookVerificationError(`timestamp ${sentAt} is more than ${tolerance} s from now`, 'stale_timestamp', {
      timestamp: sentAt,
      tolerance,
    });
  }
  const expected = await hmac(secret, timestamp, body, options.crypto);
  const given = signature.startsWith('sha256=') ? fromHex(signature.slice('sha256='.length)) : undefined;
  if (!given || !timingSafeEqual(given, expected)) {
    throw new WebhookVerificationError('signature does not match', 'bad_signature');
  }
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytesOf(body)));
  } catch {
    throw new WebhookVerificationError('body is not JSON', 'bad_body');
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new WebhookVerificationError('body is not an event object', 'bad_body');
  }
  return event as WebhookEvent;
}
