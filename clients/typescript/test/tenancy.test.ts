import { describe, expect, it } from 'vitest';
import { AuthenticationError, NotFoundError, PermissionDeniedError, RecommendationClient } from '../src/index.js';
import { client, countingFetch, service, unique } from './helpers.js';

describe('tenancy', () => {
  it('registers, reads, lists and deletes tenants (administrator key)', async () => {
    const admin = client();
    const tenantId = unique('acme');
    const tenant = await admin.putTenant(tenantId, {
      name: 'Acme',
      config: { defaultRecommendationCount: 5, collaborativeWeight: 0.8 },
      interactionTypeWeights: { view: 2 },
    });
    expect(tenant).toMatchObject({
      tenant_id: tenantId,
      name: 'Acme',
      config: { default_recommendation_count: 5, collaborative_weight: 0.8 },
      interaction_type_weights: { view: 2 },
    });
    expect(tenant.effective_config.default_recommendation_count).toBe(5);
    expect(await admin.getAdminTenant(tenantId)).toMatchObject({ tenant_id: tenantId, name: 'Acme' });
    expect((await admin.listTenants()).map((t) => t.tenant_id)).toContain(tenantId);
    const own = await admin.getTenant({ tenantId });
    expect(own).toMatchObject({ tenant_id: tenantId, registered: true, name: 'Acme' });
    await admin.deleteTenant(tenantId);
    await expect(admin.getAdminTenant(tenantId)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("sends the client's tenant, and a call's tenant instead", async () => {
    const first = unique('first');
    const second = unique('second');
    const fetch = countingFetch();
    const c = client({ tenantId: first, fetch });
    await c.createEntity({ entityId: 'shared', entityType: 'product', attributes: { owner: 'first' } });
    await c.createEntity({ entityId: 'shared', entityType: 'product', attributes: { owner: 'second' } }, { tenantId: second });
    expect((await c.getEntity('shared')).attributes).toEqual({ owner: 'first' });
    expect((await c.getEntity('shared', {}, { tenantId: second })).attributes).toEqual({ owner: 'second' });
    expect((await c.getTenant({ tenantId: second })).tenant_id).toBe(second);
    const tenants = fetch.calls.map((init) => new Headers(init.headers).get('x-tenant-id'));
    expect(tenants).toEqual([first, second, first, second, second]);
  });

  it('a tenant key acts for its tenant and may not name another', async () => {
    const admin = client();
    const tenantId = unique('keyed');
    const other = unique('other');
    await admin.putTenant(tenantId, { name: 'Keyed' });
    const key = await admin.createApiKey({ name: 'ci', tenantId });
    expect(key).toMatchObject({ tenant_id: tenantId, name: 'ci' });
    expect(key.key.length).toBeGreaterThan(10);
    const keys = await admin.listApiKeys({ tenantId });
    expect(keys.map((k) => k.id)).toEqual([key.id]);
    expect((await admin.listApiKeys()).map((k) => k.id)).toContain(key.id);

    const tenantClient = new RecommendationClient({ baseUrl: service.url, apiKey: key.key });
    expect((await tenantClient.getTenant()).tenant_id).toBe(tenantId);
    const entity = await tenantClient.createEntity({ entityId: 'mine', entityType: 'product' });
    expect(entity.tenant_id).toBe(tenantId);
    // Naming its own tenant is fine; another is refused.
    expect((await tenantClient.getEntity('mine', {}, { tenantId })).tenant_id).toBe(tenantId);
    const refused = await tenantClient.getEntity('mine', {}, { tenantId: other }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect(refused).toMatchObject({ status: 403, code: 'forbidden' });
    const alsoRefused = new RecommendationClient({ baseUrl: service.url, apiKey: key.key, tenantId: other });
    await expect(alsoRefused.listWebhooks()).rejects.toBeInstanceOf(PermissionDeniedError);

    await admin.deleteApiKey(key.id);
    await expect(tenantClient.getTenant()).rejects.toBeInstanceOf(AuthenticationError);
    await admin.deleteTenant(tenantId);
  });
});
