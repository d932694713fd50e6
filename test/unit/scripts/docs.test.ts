/**
 * The generated reference pages: docs/configuration.md and docs/api.md are what
 * scripts/gen-docs.ts writes now (`npm run check:docs` checks the same in pretest), and the
 * renderers leave nothing out: every option of the schema is a row of its section, every
 * operation of the OpenAPI document has its own heading, every request body and schema its
 * table, and every example in the document is shown.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { FIRMWARE_MAP_OPTIONS, OPTIONS, SECURE_BOOT_KEYSET_OPTIONS } from '../../../src/config/schema';
import { renderApiReference } from '../../../scripts/docs/api';
import { renderConfigurationReference } from '../../../scripts/docs/configuration';

const REPO = path.resolve(__dirname, '..', '..', '..');
const YAML = path.join(REPO, 'openapi', 'nova-uefi-shim.yaml');
const read = (rel: string) => readFileSync(path.join(REPO, rel), 'utf8');

/** The lines of `page` from the heading `## <title>` to the next `## ` heading. */
function sectionOf(page: string, title: string): string {
  const lines = page.split('\n');
  const start = lines.indexOf(`## ${title}`);
  assert.ok(start >= 0, `no heading "## ${title}"`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

describe('generated docs', () => {
  const config = renderConfigurationReference();
  const api = renderApiReference(YAML);

  it('docs/configuration.md and docs/api.md are current (run `npm run gen:docs` when this fails)', () => {
    assert.equal(read('docs/configuration.md'), config.trimEnd() + '\n');
    assert.equal(read('docs/api.md'), api.trimEnd() + '\n');
  });

  it('lists every option in the table of its own section, with its default', () => {
    const groups: [string, readonly { section: string; key: string }[]][] = [
      ...[...new Set(OPTIONS.map((o) => o.section))].map((s) => [s, OPTIONS.filter((o) => o.section === s)] as [string, typeof OPTIONS]),
      ['firmware:<arch>', FIRMWARE_MAP_OPTIONS],
      ['secure_boot_keyset:<name>', SECURE_BOOT_KEYSET_OPTIONS],
    ];
    for (const [section, defs] of groups) {
      const text = sectionOf(config, `\`[${section}]\``);
      for (const def of defs) assert.match(text, new RegExp(`^\\| \`${def.key}\` \\|`, 'm'), `[${section}] ${def.key} missing`);
    }
  });

  it('gives every operation a heading with its method and path, every body and schema its fields, and shows every example', () => {
    const doc = parse(readFileSync(YAML, 'utf8')) as {
      paths: Record<string, Record<string, { operationId?: string; requestBody?: { content?: Record<string, { example?: unknown }> } }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown>; example?: unknown }> };
    };
    const schemaFields = new Set([...sectionOf(api, 'Schemas').matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]));
    let examples = 0;
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
        const op = item[method];
        if (!op) continue;
        assert.ok(api.includes(`### ${op.operationId}\n\n\`${method.toUpperCase()} ${p}\``), `${method} ${p} (${op.operationId}) missing`);
        for (const media of Object.values(op.requestBody?.content ?? {})) {
          if (media.example === undefined) continue;
          examples++;
          assert.ok(api.includes(JSON.stringify(media.example, null, 2)), `the request example of ${op.operationId} is not shown`);
        }
      }
    }
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assert.ok(api.includes(`### Schema: ${name}\n`), `schema ${name} missing`);
      for (const field of Object.keys(schema.properties ?? {})) {
        assert.ok(schemaFields.has(field), `${name}.${field} missing`);
      }
      if (schema.example !== undefined) examples++;
    }
    console.log(`      (${examples} examples in the OpenAPI document)`);
  });

  it('escapes `<` outside code spans, so a forge does not take <name> for an HTML tag', () => {
    for (const page of [config, api]) {
      const outsideCode = page
        .split('\n')
        .filter((l) => !l.startsWith('<!--'))
        .join('\n')
        .replace(/```[\s\S]*?```/g, '')
        .split('`')
        .filter((_, i) => i % 2 === 0)
        .join('');
      assert.doesNotMatch(outsideCode, /(^|[^\\])<[a-z]/i);
    }
  });
});
