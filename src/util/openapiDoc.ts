/**
 * @module util/openapiDoc
 * The OpenAPI document (`openapi/nova-uefi-shim.yaml`, read from its generated JSON copy) and
 * one Ajv instance holding it (JSON Schema 2020-12, as OpenAPI 3.1), so that both ends of a
 * call check bodies against the same schemas: the API's request validation (api/
 * requestValidator) and the peer client's check of what a peer answers (peer/protocol).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

/** The package root: the nearest directory above this module holding package.json (src/util under tsx, dist/util when built, installed). */
function packageRoot(from: string): string {
  for (let d = from; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${from}`);
  }
}
/** The document as written (YAML): the source of the types, the JSON copy and the docs. */
export const OPENAPI_PATH = path.join(packageRoot(__dirname), 'openapi', 'nova-uefi-shim.yaml');
/**
 * The same document as JSON, generated from the YAML (`npm run gen:types`; `npm run
 * check:types` fails when it is stale). The sidecar reads this one: JSON.parse takes about a
 * millisecond where parsing the YAML took about 120 ms of every start-up.
 */
export const OPENAPI_JSON_PATH = path.join(packageRoot(__dirname), 'openapi', 'nova-uefi-shim.json');

export interface OpenApiDoc {
  paths: Record<string, Record<string, { operationId?: string; requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } }>>;
  [k: string]: unknown;
}

let cachedDoc: OpenApiDoc | undefined;
export function loadOpenApi(): OpenApiDoc {
  cachedDoc ??= (
    existsSync(OPENAPI_JSON_PATH) ? JSON.parse(readFileSync(OPENAPI_JSON_PATH, 'utf8')) : parseYaml(readFileSync(OPENAPI_PATH, 'utf8'))
  ) as OpenApiDoc;
  return cachedDoc;
}

/** An Ajv instance with `doc` added as `openapi` (its schemas are `openapi#/components/schemas/<Name>`). */
export function openApiAjv(doc: OpenApiDoc = loadOpenApi()): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, useDefaults: false });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  return ajv;
}

let shared: Ajv2020 | undefined;
const byName = new Map<string, ValidateFunction>();

/**
 * The process's one Ajv instance with the project's document: adding the document costs ~70 ms,
 * paid once when the API's request validator is built at start-up, not again by the first
 * peer answer a live migration checks (`componentValidator`).
 */
export function sharedOpenApiAjv(): Ajv2020 {
  return (shared ??= openApiAjv());
}

/** The validator of the document's component schema `name`, compiled on first use and kept. */
export function componentValidator(name: string): ValidateFunction {
  let fn = byName.get(name);
  if (!fn) {
    fn = sharedOpenApiAjv().compile({ $ref: `openapi#/components/schemas/${name}` });
    byName.set(name, fn);
  }
  return fn;
}
