/**
 * The built package (dist/, made by `npm run build` before the tests): what `npm pack`
 * puts in the tarball, and that CommonJS `require` and ESM `import` of it both work, in
 * JavaScript and in TypeScript (node16 resolution).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_DIR } from '../scripts/service.mjs';
import { service } from './helpers.js';

const run = promisify(execFile);

describe('the package', () => {
  let consumer = '';

  beforeAll(() => {
    if (!existsSync(join(PACKAGE_DIR, 'dist', 'esm', 'index.js'))) throw new Error('dist/ is missing: run npm run build first');
    // A project that depends on the package, as an installed one would.
    consumer = mkdtempSync(join(tmpdir(), 'rec-ts-consumer-'));
    mkdirSync(join(consumer, 'node_modules', '@recommendation-engine'), { recursive: true });
    symlinkSync(PACKAGE_DIR, join(consumer, 'node_modules', '@recommendation-engine', 'client'), 'dir');
  });

  afterAll(() => {
    if (consumer) rmSync(consumer, { recursive: true, force: true });
  });

  it('packs dist/, README.md, LICENSE and package.json only', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE_DIR });
    const [pack] = JSON.parse(stdout) as { name: string; version: string; files: { path: string }[] }[];
    expect(pack).toMatchObject({ name: '@recommendation-engine/client', version: '0.1.0' });
    const files = pack.files.map((f) => f.path).sort();
    const outside = files.filter((f) => !f.startsWith('dist/') && !['README.md', 'LICENSE', 'package.json'].includes(f));
    expect(outside).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'README.md',
        'LICENSE',
        'package.json',
        'dist/esm/index.js',
        'dist/esm/index.d.ts',
        'dist/cjs/index.js',
        'dist/cjs/index.d.ts',
        'dist/cjs/package.json',
        'dist/esm/generated/schema.d.ts',
      ]),
    );
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /test|\.map$|tsconfig|eslint|vitest/.test(f))).toEqual([]);
  });

  it('is required as CommonJS and imported as ESM by its name, and each calls the service', async () => {
    const script = (load: string) => `${load}
      const client = new RecommendationClient({ baseUrl: ${JSON.stringify(service.url)}, apiKey: ${JSON.stringify(service.apiKey)} });
      client.health().then((health) => console.log(JSON.stringify({ health, version: VERSION, isError: new NotFoundError('x') instanceof RecommendationError })));`;
    const cjs = await run(
      process.execPath,
      ['-e', script("const { RecommendationClient, VERSION, NotFoundError, RecommendationError } = require('@recommendation-engine/client');")],
      { cwd: consumer },
    );
    const esm = await run(
      process.execPath,
      ['--input-type=module', '-e', script("import { RecommendationClient, VERSION, NotFoundError, RecommendationError } from '@recommendation-engine/client';")],
      { cwd: consumer },
    );
    for (const { stdout } of [cjs, esm]) {
      expect(JSON.parse(stdout)).toMatchObject({ health: { status: 'ok' }, version: '0.1.0', isError: true });
    }
    const resolved = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { createRequire } from 'node:module'; console.log(JSON.stringify([createRequire(process.cwd() + '/').resolve('@recommendation-engine/client'), import.meta.resolve('@recommendation-engine/client')]))",
      ],
      { cwd: consumer },
    );
    const [required, imported] = JSON.parse(resolved.stdout) as [string, string];
    expect(required).toMatch(/dist\/cjs\/index\.js$/);
    expect(imported).toMatch(/dist\/esm\/index\.js$/);
  });

  it('type-checks in a TypeScript project, from ESM and from CommonJS', async () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022', 'DOM'], types: [], strict: true, noEmit: true },
        files: ['esm.mts', 'cjs.cts'],
      }),
    );
    const body = `
      const client = new RecommendationClient({ baseUrl: 'http://localhost:8080', apiKey: 'your-api-key' });
      export async function main(): Promise<number> {
        await client.createEntity({ entityId: 'product-123', entityType: 'product', attributes: { name: 'Laptop', price: 999.99 } });
        const recommendations: UserRecommendations = await client.getUserRecommendations('user-456', { count: 10 });
        const first: string | undefined = recommendations.recommendations[0]?.entity_id;
        for await (const entity of client.exportEntities()) console.log(entity.entity_id);
        return first?.length ?? 0;
      }
    `;
    writeFileSync(join(consumer, 'esm.mts'), `import { RecommendationClient, type UserRecommendations } from '@recommendation-engine/client';\n${body}`);
    writeFileSync(join(consumer, 'cjs.cts'), `import { RecommendationClient, type UserRecommendations } from '@recommendation-engine/client';\n${body}`);
    const tsc = join(PACKAGE_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', consumer]).catch((e: unknown) => e as { stdout: string });
    expect(result.stdout).toBe('');
  });
});
