// Turns the service's OpenAPI document into src/generated/schema.ts with openapi-typescript.
import openapiTS, { astToString } from 'openapi-typescript';
import { join } from 'node:path';
import { PACKAGE_DIR } from './service.mjs';

export const SCHEMA_FILE = join(PACKAGE_DIR, 'src', 'generated', 'schema.ts');

const HEADER = `/**
 * The service's API types, generated from its OpenAPI document (GET /api/docs) by
 * \`npm run generate\` with openapi-typescript. Do not edit: regenerate.
 */

`;

/**
 * The text of src/generated/schema.ts for `document`.
 * @param {Record<string, unknown>} document an OpenAPI 3 document
 * @returns {Promise<string>}
 */
export async function generateSchema(document) {
  // openapi-typescript takes a parsed document as is; a copy keeps the caller's intact.
  const ast = await openapiTS(/** @type {any} */ (structuredClone(document)));
  return HEADER + astToString(ast);
}
