/**
 * config/schema: the option tables hold what the rest of the project relies on: one entry per
 * (section, key); each default of the type its option declares, within its bounds and among
 * its choices; `related` naming options that exist; and a config built from nothing holds
 * exactly the defaults (so the defaults are the table's, not the loader's).
 */
import { strict as assert } from 'node:assert';
import { FIRMWARE_MAP_OPTIONS, OPTIONS, SECURE_BOOT_KEYSET_OPTIONS, optionValue, testConfig, type Option } from '../../../src/config';
import type { OptDef } from '../../../src/config/schema';

const TABLES: [string, readonly OptDef[]][] = [
  ['OPTIONS', OPTIONS],
  ['FIRMWARE_MAP_OPTIONS', FIRMWARE_MAP_OPTIONS],
  ['SECURE_BOOT_KEYSET_OPTIONS', SECURE_BOOT_KEYSET_OPTIONS],
];

/** Whether `v` is a value of type `t` as the loader produces it. */
function ofType(t: OptDef['type'], v: unknown): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'int':
    case 'octal':
      return Number.isInteger(v);
    case 'bool':
      return typeof v === 'boolean';
    case 'list':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'dict':
      return !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
  }
}

describe('config/schema', () => {
  for (const [name, table] of TABLES) {
    describe(name, () => {
      it('has one entry per section and key, each with help', () => {
        const seen = new Set<string>();
        for (const d of table) {
          const id = `[${d.section}] ${d.key}`;
          assert.ok(!seen.has(id), `${id} declared twice`);
          seen.add(id);
          assert.match(d.key, /^[a-z][a-z0-9_]*$/, `${id}: key`);
          assert.ok(d.help.trim().length > 10, `${id}: help`);
        }
        assert.ok(seen.size > 0);
      });

      it('declares each default of its type, within min/max and among its choices', () => {
        for (const d of table) {
          const id = `[${d.section}] ${d.key}`;
          assert.ok(ofType(d.type, d.default), `${id}: default ${JSON.stringify(d.default)} is not a ${d.type}`);
          if (d.min !== undefined) assert.ok((d.default as number) >= d.min, `${id}: default under min`);
          if (d.max !== undefined) assert.ok((d.default as number) <= d.max, `${id}: default over max`);
          if (d.min !== undefined || d.max !== undefined) assert.equal(d.type, 'int', `${id}: bounds on a ${d.type}`);
          if (d.choices) {
            assert.equal(d.type, 'string', `${id}: choices on a ${d.type}`);
            assert.ok(d.choices.includes(d.default as string), `${id}: default ${JSON.stringify(d.default)} not among ${d.choices.join(', ')}`);
          }
          if (d.secret) assert.equal(d.type, 'string', `${id}: a secret is a string`);
        }
      });
    });
  }

  it("every option's related entries name options of the main table or of a prefixed section", () => {
    const ids = new Set(OPTIONS.map((d) => `${d.section}.${d.key}`));
    for (const d of OPTIONS)
      for (const r of d.related ?? [])
        assert.ok(ids.has(r) || /^(firmware|secure_boot_keyset):/.test(r), `[${d.section}] ${d.key}: related '${r}' is no option`);
  });

  it('a config built from nothing holds exactly the declared defaults', () => {
    const c = testConfig();
    for (const d of OPTIONS as readonly Option[]) assert.deepEqual(optionValue(c, d), d.default, `[${d.section}] ${d.key}`);
    assert.deepEqual(c.firmwareMap, {});
    assert.deepEqual(c.secureBootKeysets, {});
  });

  it('marks the identity and the directories restart-only and the peer settings reloadable', () => {
    const find = (s: string, k: string) => OPTIONS.find((d) => d.section === s && d.key === k) ?? assert.fail(`[${s}] ${k} missing`);
    assert.ok(!find('DEFAULT', 'host').mutable);
    assert.ok(!find('nvram', 'nvram_dir').mutable);
    assert.ok(!find('hypervisor', 'state_dir').mutable);
    assert.ok(find('peer', 'shared_secret').mutable);
    assert.ok(find('peer', 'shared_secret').secret);
    assert.ok(find('peer', 'timeout').mutable);
  });
});
