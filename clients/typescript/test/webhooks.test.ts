import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NotFoundError,
  WebhookVerificationError,
  signWebhook,
  verifyWebhook,
  type Delivery,
  type WebhookVerificationCode,
} from '../src/index.js';
import { client, eventually, unique } from './helpers.js';

async function refusal(promise: Promise<unknown>): Promise<WebhookVerificationCode> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return (error as WebhookVerificationError).code;
}

describe('verifyWebhook and signWebhook', () => {
  const secret = 'whsec_test';
  const body = JSON.stringify({ id: 7, event: 'entity.created', tenant_id: 't', created_at: '2024-01-01T00:00:00Z', data: { entities: [] } });
  const now = 1_700_000_000;

  it('signs as the service does: sha256=hex HMAC-SHA256 of "<timestamp>.<body>"', async () => {
    const expected = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(await signWebhook(body, secret, now)).toBe(`sha256=${expected}`);
    expect(await signWebhook(new TextEncoder().encode(body), secret, String(now))).toBe(`sha256=${expected}`);
  });

  it('accepts a good request, with headers as a record or a Headers object, the body as text or bytes', async () => {
    const signature = await signWebhook(body, secret, now);
    const record = { 'x-webhook-timestamp': String(now), 'X-Webhook-Signature': signature };
    const event = await verifyWebhook(body, record, secret, { now });
    expect(event).toMatchObject({ id: 7, event: 'entity.created', tenant_id: 't' });
    const headers = new Headers({ 'X-Webhook-Timestamp': String(now), 'X-Webhook-Signature': signature });
    await expect(verifyWebhook(new TextEncoder().encode(body), headers, secret, { now: new Date((now + 299) * 1000) })).resolves.toEqual(event);
    await expect(verifyWebhook(new TextEncoder().encode(body).buffer, { ...record, 'x-webhook-timestamp': [String(now)] }, secret, { now })).resolves.toEqual(
      event,
    );
  });

  it('refuses a wrong signature, a changed body, a stale or malformed timestamp, missing headers, a body that is no event', async () => {
    const signature = await signWebhook(body, secret, now);
    const headers = { 'X-Webhook-Timestamp': String(now), 'X-Webhook-Signature': signature };
    expect(await refusal(verifyWebhook(body, headers, 'other-secret', { now }))).toBe('bad_signature');
    expect(await refusal(verifyWebhook(body.replace('7', '8'), headers, secret, { now }))).toBe('bad_signature');
    expect(await refusal(verifyWebhook(body, { ...headers, 'X-Webhook-Signature': 'sha256=zz' }, secret, { now }))).toBe('bad_signature');
    expect(await refusal(verifyWebhook(body, { ...headers, 'X-Webhook-Signature': signature.slice(7) }, secret, { now }))).toBe('bad_signature');
    expect(await refusal(verifyWebhook(body, headers, secret, { now: now + 301 }))).toBe('stale_timestamp');
    expect(await refusal(verifyWebhook(body, headers, secret, { now: now - 11, tolerance: 10 }))).toBe('stale_timestamp');
    expect(await refusal(verifyWebhook(body, headers, secret))).toBe('stale_timestamp');
    expect(await refusal(verifyWebhook(body, { ...headers, 'X-Webhook-Timestamp': 'yesterday' }, secret, { now }))).toBe('bad_timestamp');
    expect(await refusal(verifyWebhook(body, { 'X-Webhook-Timestamp': String(now) }, secret, { now }))).toBe('missing_signature');
    expect(await refusal(verifyWebhook(body, new Headers(), secret, { now }))).toBe('missing_signature');
    const notJson = 'not json';
    const notJsonHeaders = { 'X-Webhook-Timestamp': String(now), 'X-Webhook-Signature': await signWebhook(notJson, secret, now) };
    expect(await refusal(verifyWebhook(notJson, notJsonHeaders, secret, { now }))).toBe('bad_body');
    const list = '[1,2]';
    const listHeaders = { 'X-Webhook-Timestamp': String(now), 'X-Webhook-Signature': await signWebhook(list, secret, now) };
    expect(await refusal(verifyWebhook(list, listHeaders, secret, { now }))).toBe('bad_body');
  });
});

interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

describe('webhooks against the service', () => {
  let server: Server;
  let url = '';
  const received: Received[] = [];
  let failNext = 0;

  beforeAll(async () => {
    server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (part: Buffer) => parts.push(part));
      request.on('end', () => {
        received.push({ body: Buffer.concat(parts), headers: request.headers });
        if (failNext > 0) {
          failNext -= 1;
          response.writeHead(500).end('not now');
        } else {
          response.writeHead(204).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('creates, reads, lists, updates and deletes a subscription', async () => {
    const c = client({ tenantId: unique('hooks') });
    const hook = await c.createWebhook({ url: `${url}/crud`, events: ['entity.created'], description: 'first' });
    expect(hook).toMatchObject({ url: `${url}/crud`, events: ['entity.created'], active: true, description: 'first' });
    expect(hook.secret.length).toBeGreaterThan(10);
    expect(await c.getWebhook(hook.id)).not.toHaveProperty('secret');
    expect((await c.listWebhooks()).map((h) => h.id)).toEqual([hook.id]);
    const updated = await c.updateWebhook(hook.id, { url: `${url}/crud2`, events: ['*'], active: false });
    expect(updated).toMatchObject({ url: `${url}/crud2`, active: false, description: null });
    expect(updated.events).toEqual(expect.arrayContaining(['entity.created', 'interaction.recorded']));
    expect(await c.listWebhookDeliveries(hook.id)).toEqual([]);
    await c.deleteWebhook(hook.id);
    await expect(c.getWebhook(hook.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('receives a real delivery whose signature verifies, lists and retries deliveries', async () => {
    const tenantId = unique('deliver');
    const c = client({ tenantId });
    const path = `/hook-${tenantId}`;
    const hook = await c.createWebhook({ url: `${url}${path}`, events: ['entity.created'], secret: 'my-webhook-secret-1234' });
    const mine = (): Received[] => received.filter((r) => r.headers['x-webhook-event'] && String(r.headers['user-agent']).length > 0 && r.body.includes(tenantId));

    // 1. A delivery that succeeds.
    await c.createEntity({ entityId: 'p1', entityType: 'product', attributes: { name: 'Laptop' } });
    const [first] = await eventually(() => Promise.resolve(mine().length >= 1 ? mine() : undefined));
    const event = await verifyWebhook(first.body, first.headers, 'my-webhook-secret-1234');
    expect(event).toMatchObject({ event: 'entity.created', tenant_id: tenantId });
    expect(JSON.stringify(event.data)).toContain('p1');
    expect(await refusal(verifyWebhook(first.body, first.headers, 'wrong-secret'))).toBe('bad_signature');

    // 2. One the receiver refuses: failed after its one attempt, then retried by hand.
    failNext = 1;
    await c.createEntity({ entityId: 'p2', entityType: 'product' });
    const failed = await eventually(async () => {
      const [latest] = await c.listWebhookDeliveries(hook.id, { status: 'failed' });
      return latest;
    });
    expect(failed).toMatchObject({ event: 'entity.created', status: 'failed', response_status: 500 });
    const retried = await c.retryWebhookDelivery(hook.id, failed.id);
    expect(retried).toMatchObject({ id: failed.id, status: 'pending' });
    await eventually(async () => ((await c.listWebhookDeliveries(hook.id, { status: 'failed' })).length === 0 ? true : undefined));

    // 3. The whole log, a page at a time.
    await c.createEntity({ entityId: 'p3', entityType: 'product' });
    const all = await eventually(async () => {
      const deliveries: Delivery[] = [];
      for await (const delivery of c.iterWebhookDeliveries(hook.id, { pageSize: 1 })) deliveries.push(delivery);
      return deliveries.length === 3 && deliveries.every((d) => d.status === 'delivered') ? deliveries : undefined;
    });
    expect(new Set(all.map((d) => d.id)).size).toBe(3);
    const delivered = [];
    for await (const delivery of c.iterWebhookDeliveries(hook.id, { status: 'delivered', pageSize: 2 })) delivered.push(delivery);
    expect(delivered).toHaveLength(3);
    for (const r of mine()) {
      await expect(verifyWebhook(r.body, r.headers, 'my-webhook-secret-1234')).resolves.toHaveProperty('id');
    }
  });
});
