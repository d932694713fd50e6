/**
 * @module api/routeTable
 * Which methods a path serves, from the OpenAPI document (its path templates and their
 * operations): what a 405 answer's `Allow` header lists. Only the API a client calls; the
 * signed peer endpoints (documented under the `peer` tag) are left out, so a wrong method
 * there stays 404.
 */
import { loadOpenApi } from './requestValidator';
import { PEER_PREFIX } from '../peer/protocol';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

let table: { re: RegExp; methods: string[] }[] | undefined;

function build(): { re: RegExp; methods: string[] }[] {
  const out: { re: RegExp; methods: string[] }[] = [];
  for (const [template, item] of Object.entries(loadOpenApi().paths)) {
    if (template.startsWith(PEER_PREFIX)) continue;
    const methods = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
    if (!methods.length) continue;
    const pattern = template
      .split(/(\{[^}]+\})/)
      .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
      .join('');
    out.push({ re: new RegExp(`^${pattern}/?$`), methods });
  }
  return out;
}

/** The methods the documented API serves at `path` (HEAD with GET), or none for an unknown path. */
export function allowedMethods(path: string): string[] {
  table ??= build();
  const found = new Set<string>();
  for (const t of table) if (t.re.test(path)) for (const m of t.methods) found.add(m);
  if (found.has('GET')) found.add('HEAD');
  return [...found];
}
