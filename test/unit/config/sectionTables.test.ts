/**
 * config/sectionTables: the keys of the repeatable sections, as the operator's firmware map and
 * key sets use them (the names the parsers and the docs read).
 */
import { strict as assert } from 'node:assert';
import { FIRMWARE_MAP_OPTIONS, SECURE_BOOT_KEYSET_OPTIONS } from '../../../src/config/sectionTables';
import * as schema from '../../../src/config/schema';

describe('config/sectionTables', () => {
  it('describes a firmware map section: loader/template pairs for plain and Secure Boot, their SMM and machines, a stateless loader', () => {
    assert.deepEqual(
      FIRMWARE_MAP_OPTIONS.map((o) => o.key),
      [
        'loader',
        'nvram_template',
        'requires_smm',
        'machines',
        'secure_loader',
        'secure_nvram_template',
        'secure_requires_smm',
        'secure_machines',
        'secure_enrolled_keys',
        'stateless_loader',
      ],
    );
    for (const o of FIRMWARE_MAP_OPTIONS) assert.equal(o.section, 'firmware:<arch>', o.key);
  });

  it('describes a key set section: the four databases, the owner and the expiry switch', () => {
    assert.deepEqual(
      SECURE_BOOT_KEYSET_OPTIONS.map((o) => o.key),
      ['pk', 'kek', 'db', 'dbx', 'owner_guid', 'allow_expired'],
    );
    for (const o of SECURE_BOOT_KEYSET_OPTIONS) assert.equal(o.section, 'secure_boot_keyset:<name>', o.key);
  });

  it('gives every key help text and a default of its own type', () => {
    for (const o of [...FIRMWARE_MAP_OPTIONS, ...SECURE_BOOT_KEYSET_OPTIONS]) {
      assert.ok(o.help.length > 10, `${o.section} ${o.key}: help`);
      const d: unknown = o.default;
      if (o.type === 'bool') assert.equal(typeof d, 'boolean', o.key);
      else if (o.type === 'string') assert.equal(typeof d, 'string', o.key);
      else if (o.type === 'list') assert.ok(Array.isArray(d), o.key);
    }
  });

  it('is what config/schema exports under the same names (one table, two ways in)', () => {
    assert.equal(schema.FIRMWARE_MAP_OPTIONS, FIRMWARE_MAP_OPTIONS);
    assert.equal(schema.SECURE_BOOT_KEYSET_OPTIONS, SECURE_BOOT_KEYSET_OPTIONS);
  });
});
