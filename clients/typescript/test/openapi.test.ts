import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, RecommendationClient, VERSION } from '../src/index.js';
import { SCHEMA_FILE, generateSchema } from '../scripts/codegen.mjs';
import { PACKAGE_DIR, fetchDocument } from '../scripts/service.mjs';
import { service } from './helpers.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

describe("the service's OpenAPI document", () => {
  const document = fetchDocument(`${service.url}/api/docs`, service.apiKey);

  it('generates exactly the committed src/generated/schema.ts (run npm run generate when it differs)', async () => {
    const generated = await generateSchema(await document);
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    expect(committed === generated, 'src/generated/schema.ts is out of date: run `npm run generate`').toBe(true);
  });

  it('has a client method for every operation, and the map names no other', async () => {
    const paths = (await document)['paths'] as Record<string, Record<string, unknown>>;
    const operations = Object.entries(paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => METHODS.includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.length).toBeGreaterThan(30);
    const missing = operations.filter((op) => !(op in OPERATIONS));
    expect(missing, `operations without a method in src/operations.ts: ${missing.join(', ')}`).toEqual([]);
    expect(Object.keys(OPERATIONS).sort()).toEqual([...operations].sort());
    for (const [operation, method] of Object.entries(OPERATIONS)) {
      expect(typeof RecommendationClient.prototype[method], `${operation} -> ${method}`).toBe('function');
    }
  });

  it('the package version is the one the client reports', () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string; name: string };
    expect(pkg).toMatchObject({ name: '@recommendation-engine/client', version: VERSION });
  });
});
