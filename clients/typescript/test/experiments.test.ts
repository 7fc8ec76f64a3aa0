import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../src/index.js';
import { client, eventually, unique } from './helpers.js';

describe('experiments', () => {
  const tenantId = unique('exp');
  const c = client({ tenantId });

  it('runs an experiment, attributes a click and reads the results', async () => {
    await c.bulkCreateEntities([0, 1, 2].map((i) => ({ entityId: `p${i}`, entityType: 'product' })));
    await expect(
      c.createExperiment({ name: 'x', route: 'user', variants: [{ name: 'control', share: 0.5 }] }),
    ).rejects.toBeInstanceOf(ValidationError);
    const experiment = await c.createExperiment({
      name: 'content for all',
      route: 'both',
      variants: [{ name: 'content', share: 1, overrides: { algorithm: 'content_based', count: 2 } }],
      clickTypes: ['click'],
      plannedUsersPerVariant: 50,
    });
    expect(experiment).toMatchObject({ state: 'draft', control_share: 0, click_types: ['click'] });
    expect(experiment.variants[0]?.overrides).toEqual({ algorithm: 'content_based', count: 2 });
    expect((await c.startExperiment(experiment.id)).state).toBe('running');
    await expect(c.startExperiment(experiment.id)).rejects.toBeInstanceOf(ConflictError);
    expect((await c.listExperiments()).map((e) => e.id)).toEqual([experiment.id]);

    const recs = await c.getUserRecommendations('u1');
    expect(recs.experiment).toEqual({ id: experiment.id, variant: 'content' });
    expect(recs.algorithm).toBe('content_based');
    const similar = await c.getSimilarEntities('p0', { userId: 'u1' });
    expect(similar.experiment?.variant).toBe('content');
    expect(similar.recommendation_id).not.toBe(recs.recommendation_id);
    await c.recordInteraction({
      userId: 'u1', entityId: 'p0', interactionType: 'click', recommendationId: recs.recommendation_id,
    });

    const results = await eventually(async () => {
      const found = await c.getExperimentResults(experiment.id);
      return found.variants[0]?.impressions === 2 ? found : undefined;
    });
    expect(results.baseline).toBe('content');
    expect(results.variants[0]).toMatchObject({ users: 1, impressions: 2 });
    expect(results.planned_sample_reached).toBe(false);
    expect((await c.stopExperiment(experiment.id)).state).toBe('stopped');
    expect((await c.getExperiment(experiment.id)).stopped_at).toBeTruthy();

    const online = await c.getOnlineEvaluation({ bucket: 'day', days: 2, clickTypes: ['click'], conversionTypes: ['purchase'] });
    expect(online.click_types).toEqual(['click']);
    const routes = online.series.map((point) => `${point.route}/${point.algorithm}`).sort();
    expect(routes).toEqual(['similar/content_based', 'user/content_based']);
  });
});
