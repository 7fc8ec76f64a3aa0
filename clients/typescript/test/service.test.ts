import { describe, expect, it } from 'vitest';
import { client } from './helpers.js';

describe('service routes', () => {
  const c = client();

  it('reports liveness and readiness', async () => {
    expect((await c.health()).status).toBe('ok');
    expect((await c.ready()).status).toBe('ready');
  });

  it('gives its metrics as text and its configuration', async () => {
    const metrics = await c.getMetrics();
    expect(metrics).toContain('# HELP');
    const config = await c.getConfig();
    expect(config).toHaveProperty('server');
  });
});
