// npm run generate: regenerate src/generated/schema.ts from the service's OpenAPI document.
//
// With OPENAPI_URL set (e.g. http://localhost:8080/api/docs), the document is fetched from
// there (OPENAPI_API_KEY, if set, is sent as X-API-Key). Otherwise a service is started
// for the purpose (see scripts/service.mjs; SERVICE_PYTHON names its Python), with
// multi-tenancy on, and stopped afterwards.
//
// `npm run generate -- --check` writes nothing and fails when the committed file differs.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { SCHEMA_FILE, generateSchema } from './codegen.mjs';
import { PACKAGE_DIR, fetchDocument, startService } from './service.mjs';

const check = process.argv.includes('--check');

async function loadDocument() {
  const url = process.env.OPENAPI_URL;
  if (url) return fetchDocument(url, process.env.OPENAPI_API_KEY);
  const service = await startService({ ENABLE_MULTI_TENANCY: 'true' });
  try {
    return await fetchDocument(`${service.url}/api/docs`, service.apiKey);
  } finally {
    await service.stop();
  }
}

const text = await generateSchema(await loadDocument());
const name = relative(PACKAGE_DIR, SCHEMA_FILE);
if (check) {
  let current = '';
  try {
    current = readFileSync(SCHEMA_FILE, 'utf8');
  } catch {
    // missing: differs
  }
  if (current !== text) {
    console.error(`${name} differs from the service's OpenAPI document: run npm run generate`);
    process.exit(1);
  }
  console.log(`${name} is current`);
} else {
  mkdirSync(dirname(SCHEMA_FILE), { recursive: true });
  writeFileSync(SCHEMA_FILE, text);
  console.log(`wrote ${name}`);
}
