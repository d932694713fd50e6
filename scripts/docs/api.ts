/**
 * Render docs/api.md from the OpenAPI document (openapi/nova-uefi-shim.yaml), the one the
 * sidecar validates requests with and its types are generated from: every operation with its
 * parameters, request body, examples and answers, then every schema as a field table. The
 * conventions every call shares (authentication, errors, Nova objects) are written here.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
const schemaAnchor = (name: string) => `schema-${name.toLowerCase()}`;
/** Markdown text: `<` outside code spans escaped, so forges do not take `<name>` for HTML. */
const prose = (text: string) =>
  text
    .split('`')
    .map((part, i) => (i % 2 ? part : part.replace(/</g, '\\<')))
    .join('`');
const cell = (text: string) =>
  prose(text)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim();

/** A one-line type: `string (uuid)`, `array of X`, a link to a named schema, `A or B`. */
function typeOf(schema: unknown): string {
  if (!isObj(schema)) return 'any';
  if (typeof schema.$ref === 'string') {
    const name = refName(schema.$ref);
    return `[${name}](#${schemaAnchor(name)})`;
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(schema[key])) return (schema[key] as unknown[]).map(typeOf).join(' or ');
  }
  if (Array.isArray(schema.allOf)) return (schema.allOf as unknown[]).map(typeOf).join(' and ');
  if ('const' in schema) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((e) => `\`${String(e)}\``).join(', ');
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : schema.type ? [schema.type as string] : [];
  if (types.includes('array')) return `array of ${typeOf(schema.items)}`;
  if (types.length === 0) return isObj(schema.properties) ? 'object' : 'any';
  const fmt = typeof schema.format === 'string' ? ` (${schema.format})` : '';
  return types.join(' or ') + fmt;
}

function constraints(schema: Json): string {
  const out: string[] = [];
  if (schema.default !== undefined) out.push(`Default \`${JSON.stringify(schema.default)}\``);
  if (typeof schema.pattern === 'string') out.push(`pattern \`${schema.pattern}\``);
  for (const k of ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
    if (schema[k] !== undefined) out.push(`${k} ${String(schema[k])}`);
  }
  return out.join(', ');
}

function fields(schema: Json): string[] {
  const props = isObj(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  if (Object.keys(props).length === 0) return [];
  const rows = Object.entries(props).map(([name, raw]) => {
    const p = isObj(raw) ? raw : {};
    const notes = [typeof p.description === 'string' ? p.description : '', constraints(p)].filter(Boolean).join(' ');
    return `| \`${name}\` | ${cell(typeOf(p))} | ${required.includes(name) ? 'yes' : ''} | ${cell(notes)} |`;
  });
  return ['| Field | Type | Required | Description |', '| --- | --- | --- | --- |', ...rows, ''];
}

function exampleBlocks(media: Json): string[] {
  const out: string[] = [];
  if (media.example !== undefined) out.push('Example:', '', '```json', JSON.stringify(media.example, null, 2), '```', '');
  if (isObj(media.examples)) {
    for (const [name, ex] of Object.entries(media.examples)) {
      if (!isObj(ex) || ex.value === undefined) continue;
      out.push(`Example \`${name}\`${typeof ex.summary === 'string' ? `: ${ex.summary}` : ''}:`, '', '```json', JSON.stringify(ex.value, null, 2), '```', '');
    }
  }
  return out;
}

function resolve(doc: Json, value: unknown): Json {
  if (isObj(value) && typeof value.$ref === 'string') {
    const parts = value.$ref.replace(/^#\//, '').split('/');
    let cur: unknown = doc;
    for (const p of parts) cur = isObj(cur) ? cur[p] : undefined;
    return isObj(cur) ? cur : {};
  }
  return isObj(value) ? value : {};
}

function operation(doc: Json, path: string, method: string, op: Json, shared: unknown[]): string[] {
  const id = typeof op.operationId === 'string' ? op.operationId : `${method}_${path}`;
  const out: string[] = [`### ${id}`, '', `\`${method.toUpperCase()} ${path}\``, ''];
  const open = Array.isArray(op.security) && op.security.length === 0;
  const signed = Array.isArray(op.security) && op.security.some((s) => isObj(s) && 'peerSignature' in s);
  out.push(
    open
      ? 'No token needed.'
      : signed
        ? 'Signed by a peer sidecar (`[peer] shared_secret`; [security.md](security.md#peer-requests-authenticate-before-reading)), never the bearer token.'
        : 'Bearer token (`[api] auth_token`) when one is configured.',
    '',
  );
  if (typeof op.description === 'string') out.push(prose(op.description.trim()), '');
  const own: unknown[] = Array.isArray(op.parameters) ? (op.parameters as unknown[]) : [];
  const params = [...shared, ...own].map((p) => resolve(doc, p));
  if (params.length) {
    out.push('| Parameter | In | Type | Required | Description |', '| --- | --- | --- | --- | --- |');
    for (const p of params) {
      const desc = typeof p.description === 'string' ? p.description : '';
      out.push(`| \`${String(p.name)}\` | ${String(p.in)} | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : ''} | ${cell(desc)} |`);
    }
    out.push('');
  }
  const body = resolve(doc, op.requestBody);
  if (isObj(body.content)) {
    for (const [type, mediaRaw] of Object.entries(body.content)) {
      const media = isObj(mediaRaw) ? mediaRaw : {};
      out.push(`Request body (\`${type}\`${body.required ? ', required' : ''}): ${typeOf(media.schema)}`, '');
      const schema = resolve(doc, media.schema);
      out.push(...fields(schema));
      out.push(...exampleBlocks(media));
      if (media.example === undefined && media.examples === undefined) out.push(...exampleBlocks(schema));
    }
  }
  if (isObj(op.responses)) {
    out.push('| Answer | Meaning | Body |', '| --- | --- | --- |');
    for (const [status, raw] of Object.entries(op.responses)) {
      const r = resolve(doc, raw);
      const content = isObj(r.content) ? r.content : {};
      const bodies = Object.entries(content).map(
        ([type, m]) => `${type === 'application/json' ? '' : `\`${type}\` `}${typeOf(isObj(m) ? m.schema : undefined)}`,
      );
      out.push(`| ${status === 'default' ? 'other' : status} | ${cell(typeof r.description === 'string' ? r.description : '')} | ${cell(bodies.join('; '))} |`);
    }
    out.push('');
  }
  return out;
}

const GROUPS: [string, (path: string) => boolean][] = [
  ['Health and metrics', (p) => !p.startsWith('/v1/')],
  ['Host', (p) => p.startsWith('/v1/host/')],
  ['Peer: sidecar to sidecar', (p) => p.startsWith('/v1/peer/')],
  ['UEFI variables, Secure Boot and backups', (p) => p.includes('/nvram')],
  ['Instances: Nova driver methods', (p) => p.startsWith('/v1/instances')],
  ['Other', () => true],
];

export function renderApiReference(yamlFile: string): string {
  const doc = parse(readFileSync(yamlFile, 'utf8')) as Json;
  const info = isObj(doc.info) ? doc.info : {};
  const paths = isObj(doc.paths) ? doc.paths : {};
  const schemas = isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  const grouped = new Map<string, string[]>(GROUPS.map(([g]) => [g, []]));
  const index = new Map<string, string[]>(GROUPS.map(([g]) => [g, []]));
  for (const [path, raw] of Object.entries(paths)) {
    const item = isObj(raw) ? raw : {};
    const group = GROUPS.find(([, test]) => test(path))![0];
    for (const method of METHODS) {
      const op = item[method];
      if (!isObj(op)) continue;
      const id = String(op.operationId);
      index.get(group)!.push(`| [${id}](#${id}) | \`${method.toUpperCase()} ${path}\` |`);
      grouped.get(group)!.push(...operation(doc, path, method, op, Array.isArray(item.parameters) ? item.parameters : []));
    }
  }
  const out: string[] = [
    '<!-- Generated from openapi/nova-uefi-shim.yaml by `npm run gen:docs`; do not edit. -->',
    '',
    '# HTTP API reference',
    '',
    `${String(info.title)} ${String(info.version)}, OpenAPI ${String(doc.openapi)}: [\`openapi/nova-uefi-shim.yaml\`](../openapi/nova-uefi-shim.yaml).`,
    '',
    typeof info.description === 'string' ? prose(info.description.trim()) : '',
    '',
    '## Conventions',
    '',
    '- **Base URL**: `http://127.0.0.1:7780` by default (`[api] host`, `port`; HTTPS with `[api] tls_cert_file`).',
    '- **Authentication**: `Authorization: Bearer <[api] auth_token>` on every call except those marked',
    '  "No token needed". Without a token configured (allowed on loopback only) nothing is checked.',
    '- **Bodies** are JSON: send `Content-Type: application/json`. Every request body is validated',
    '  against this document before anything is read or written; a field that does not fit is a 400',
    '  `InvalidInput` naming it. Unknown keyword arguments of Nova methods are ignored.',
    '- **Nova objects** (`instance`, `image_meta`, `flavor`, ...) may be plain JSON or',
    '  oslo.versionedobjects primitives exactly as `obj_to_primitive()` emits them',
    '  (`nova_object.name`, `.namespace`, `.version`, `.data`, `.changes`, nested).',
    '- **Errors** are `{"error": {"type": "<Nova exception>", "code": N, "message": "...", "request_id": "..."}}`',
    '  ([Error](#schema-error)): 400 `InvalidInput`, `UEFINotSupported`, `SecureBootNotSupported`,',
    '  `FlavorImageConflict`, `MigrationPreCheckError`; 401 `NotAuthorized`; 404 `InstanceNotFound`; 409',
    '  `InstanceInvalidState`, `InstanceExists`; `InvalidNVRAM` with `details.reason`',
    '  ([uefi-variables.md](uefi-variables.md#errors)); 502 `MigrationError` for an unreachable peer; 500',
    '  only for unknown failures, with the request id and no stack trace.',
    '- **Request ids**: `X-OpenStack-Request-ID` is accepted (or generated as `req-<uuid>`), echoed, and',
    '  in every log line the call writes.',
    '',
  ];
  for (const [group] of GROUPS) {
    if (!index.get(group)!.length) continue;
    out.push(`## ${group}`, '', '| Operation | Call |', '| --- | --- |', ...index.get(group)!, '', ...grouped.get(group)!);
  }
  out.push('## Schemas', '');
  for (const [name, raw] of Object.entries(schemas)) {
    const s = isObj(raw) ? raw : {};
    out.push(`### Schema: ${name}`, '');
    if (typeof s.description === 'string') out.push(prose(s.description.trim()), '');
    const table = fields(s);
    if (table.length) out.push(...table);
    else out.push(`Type: ${typeOf(s)}`, '');
    if (s.example !== undefined) out.push('Example:', '', '```json', JSON.stringify(s.example, null, 2), '```', '');
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}
