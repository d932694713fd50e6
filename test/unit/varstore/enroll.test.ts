/**
 * varstore/enroll: offline PK/KEK/db/dbx edits written as edk2 leaves an authenticated write,
 * checked against the records of OVMF's own enrolled template (`OVMF_VARS_4M.ms.fd`), with
 * round trips, idempotence, the platform-mode rules and the size limit.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { applyKeyChanges, databaseItems, type KeyChange } from '../../../src/varstore/enroll';
import { parseVarStore } from '../../../src/varstore/parse';
import { writeVarStore } from '../../../src/varstore/write';
import { findVariable } from '../../../src/varstore/edit';
import { secureBootSummary } from '../../../src/varstore/secureBoot';
import { decodeEfiTime, efiTimeFromDate } from '../../../src/varstore/efiTime';
import { VarStoreError } from '../../../src/varstore/errors';
import { EFI_CERT_DB, EFI_GLOBAL_VARIABLE as G, EFI_SECURE_BOOT_ENABLE_DISABLE as SBE, EFI_VENDOR_KEYS_NV } from '../../../src/varstore/guids';
import type { SignatureItem } from '../../../src/varstore/secureBootKeys';
import type { Variable } from '../../../src/varstore/types';
import { buildStore } from './builder';
import { OWNER, testCert } from '../../support/sbKeys';

const MS_4M = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const EMPTY_4M = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const NOW = new Date('2026-11-29T12:34:56.789Z');

const x509 = (name: string): SignatureItem => ({ type: 'x509', owner: OWNER, data: testCert(name).derBytes.toString('hex') });
const hash = (b: string): SignatureItem => ({ type: 'sha256', owner: OWNER, data: b.repeat(32) });

function file(ctx: Mocha.Context, f: string): Buffer {
  if (!existsSync(f)) ctx.skip(); // ovmf not installed
  return readFileSync(f);
}

function enrollAll(): KeyChange[] {
  return [
    { op: 'set', db: 'PK', items: [x509('en-pk')] },
    { op: 'set', db: 'KEK', items: [x509('en-kek')] },
    { op: 'set', db: 'db', items: [x509('en-db')] },
  ];
}

/** Write `changes` into `buf` as the API and the CLI do. */
function enroll(buf: Buffer, changes: KeyChange[], now = NOW) {
  const r = applyKeyChanges(parseVarStore(buf).variables, changes, { now });
  return { ...r, bytes: writeVarStore(buf, r.variables) };
}

function rec(vars: readonly Variable[], name: string, guid: string) {
  const v = findVariable(vars, name, guid);
  assert.ok(v, `${name} missing`);
  return v;
}

describe('varstore/enroll', () => {
  before(function () {
    this.timeout(60000);
    for (const n of ['en-pk', 'en-kek', 'en-db', 'en-db2']) testCert(n);
  });

  it("re-enrolling the .ms template's own keys changes nothing, byte for byte", function () {
    const ms = file(this, MS_4M);
    const vars = parseVarStore(ms).variables;
    const same: KeyChange[] = (['PK', 'KEK', 'db', 'dbx'] as const).map((db) => ({ op: 'set', db, items: databaseItems(vars, db) }));
    const r = enroll(ms, same);
    assert.equal(r.changed, false);
    assert.ok(r.bytes.equals(ms));
  });

  it('writes PK, KEK and db records shaped like those of OVMF_VARS_4M.ms.fd', function () {
    const ms = parseVarStore(file(this, MS_4M)).variables;
    const r = enroll(file(this, EMPTY_4M), enrollAll());
    const out = parseVarStore(r.bytes);
    assert.equal(r.bytes.length, readFileSync(EMPTY_4M).length, 'size unchanged');
    for (const [name, guid] of [
      ['PK', G],
      ['KEK', G],
      ['db', 'd719b2cb-3d3a-4596-a3bc-dad00e67656f'],
      ['certdb', EFI_CERT_DB],
      ['VendorKeysNv', EFI_VENDOR_KEYS_NV],
      ['SecureBootEnable', SBE],
    ] as const) {
      const want = rec(ms, name, guid);
      const got = rec(out.variables, name, guid);
      assert.equal(got.attr, want.attr, `${name} attributes`);
      assert.equal((got as { monotonicCount?: bigint }).monotonicCount, 0n);
      assert.equal((got as { pubKeyIndex?: number }).pubKeyIndex, 0);
      if (['certdb', 'VendorKeysNv', 'SecureBootEnable'].includes(name)) assert.ok(got.data.equals(want.data), `${name} data as in the template`);
    }
    const t = decodeEfiTime(rec(out.variables, 'PK', G).timestamp as Buffer);
    assert.deepEqual(t, { year: 2026, month: 11, day: 29, hour: 12, minute: 34, second: 56, nanosecond: 0, time_zone: 0, daylight: 0 });
    const s = secureBootSummary(out.variables);
    assert.equal(s.enabled, true);
    assert.equal(s.setup_mode, false);
    assert.deepEqual(s.db.certificates, ['CN=en-db']);
  });

  it('adds a 2023-style KEK and db certificate beside the 2011 ones, once', function () {
    const ms = file(this, MS_4M);
    const rotate: KeyChange[] = [
      { op: 'add', db: 'KEK', items: [x509('en-kek')] },
      { op: 'add', db: 'db', items: [x509('en-db'), x509('en-db2')] },
    ];
    const first = enroll(ms, rotate);
    assert.equal(first.changed, true);
    assert.deepEqual(
      first.reports.map((r) => [r.db, r.added, r.duplicates]),
      [
        ['KEK', 1, 0],
        ['db', 2, 0],
      ],
    );
    const s = secureBootSummary(parseVarStore(first.bytes).variables);
    assert.deepEqual(s.kek.certificates.slice(-1), ['CN=en-kek']);
    assert.equal(s.db.certificates.length, 4);
    const second = enroll(first.bytes, rotate, new Date(NOW.getTime() + 60e3));
    assert.equal(second.changed, false, 'a second run adds nothing twice');
    assert.deepEqual(
      second.reports.map((r) => [r.db, r.added, r.duplicates]),
      [
        ['KEK', 0, 1],
        ['db', 0, 2],
      ],
    );
    assert.ok(second.bytes.equals(first.bytes));
  });

  it('removes entries by content and reports the ones that were not there', function () {
    const ms = file(this, MS_4M);
    const kek2011 = databaseItems(parseVarStore(ms).variables, 'KEK')[1];
    const r = enroll(ms, [
      { op: 'remove', db: 'KEK', items: [kek2011] },
      { op: 'remove', db: 'dbx', items: [hash('cd')] },
    ]);
    assert.deepEqual(
      r.reports.map((x) => [x.db, x.removed, x.missing]),
      [
        ['KEK', 1, 0],
        ['dbx', 0, 1],
      ],
    );
    assert.equal(secureBootSummary(parseVarStore(r.bytes).variables).kek.certificates.length, 1);
  });

  it('groups dbx hashes in one SHA-256 list and appends to it', () => {
    const base = buildStore({ fvLength: 0x10000, storeSize: 0x8000 - 0x48, records: [] });
    const r1 = enroll(base, [{ op: 'set', db: 'dbx', items: [hash('01'), hash('02')] }]);
    const r2 = enroll(r1.bytes, [{ op: 'add', db: 'dbx', items: [hash('03')] }]);
    const dbx = rec(parseVarStore(r2.bytes).variables, 'dbx', 'd719b2cb-3d3a-4596-a3bc-dad00e67656f');
    assert.equal(dbx.data.length, 28 + 3 * 48, 'one list header, three entries');
  });

  it('never moves a timestamp backwards', () => {
    const base = buildStore({ fvLength: 0x10000, storeSize: 0x8000 - 0x48, records: [] });
    const future = new Date('2030-01-01T00:00:00Z');
    const r1 = enroll(base, [{ op: 'set', db: 'db', items: [hash('01')] }], future);
    const r2 = enroll(r1.bytes, [{ op: 'add', db: 'db', items: [hash('02')] }], NOW);
    const db = rec(parseVarStore(r2.bytes).variables, 'db', 'd719b2cb-3d3a-4596-a3bc-dad00e67656f');
    assert.ok((db.timestamp as Buffer).equals(efiTimeFromDate(future)));
  });

  it('clearing PK goes back to setup mode and deletes SecureBootEnable, as edk2 UpdatePlatformMode does', function () {
    const r = enroll(file(this, MS_4M), [{ op: 'set', db: 'PK', items: [] }]);
    const vars = parseVarStore(r.bytes).variables;
    assert.equal(findVariable(vars, 'PK', G), undefined);
    assert.equal(findVariable(vars, 'SecureBootEnable', SBE), undefined);
    const s = secureBootSummary(vars);
    assert.equal(s.setup_mode, true);
    assert.equal(s.enabled, false);
    assert.equal(s.kek.present, true, 'KEK and db stay');
  });

  it('leaves an operator-disabled SecureBootEnable alone when PK is replaced', () => {
    const base = buildStore({
      fvLength: 0x10000,
      storeSize: 0x8000 - 0x48,
      records: [{ name: 'SecureBootEnable', guid: SBE, attr: 3, data: Buffer.from([0]) }],
    });
    const r1 = enroll(base, [{ op: 'set', db: 'PK', items: [x509('en-pk')] }]);
    assert.equal(rec(parseVarStore(r1.bytes).variables, 'SecureBootEnable', SBE).data[0], 1, 'setup → user mode creates it = 1');
    const off = writeVarStore(
      r1.bytes,
      parseVarStore(r1.bytes).variables.map((v) => (v.name === 'SecureBootEnable' ? { ...v, data: Buffer.from([0]) } : v)),
    );
    const r2 = enroll(off, [{ op: 'set', db: 'PK', items: [x509('en-kek')] }]);
    assert.equal(rec(parseVarStore(r2.bytes).variables, 'SecureBootEnable', SBE).data[0], 0);
  });

  const REFUSED: [string, KeyChange[], RegExp][] = [
    [
      'two PK certificates',
      [
        {
          op: 'set',
          db: 'PK',
          items: [
            { type: 'x509', owner: OWNER, data: 'aa' },
            { type: 'x509', owner: OWNER, data: 'bb' },
          ],
        },
      ],
      /PK: .*exactly one/,
    ],
    ['a hash in KEK', [{ op: 'add', db: 'KEK', items: [hash('aa')] }], /KEK: KEK holds X\.509 certificates, not hashes/],
    ['a short dbx hash', [{ op: 'add', db: 'dbx', items: [{ type: 'sha256', owner: OWNER, data: 'abcd' }] }], /dbx: a SHA-256 hash is 32 bytes/],
  ];
  for (const [name, changes, want] of REFUSED) {
    it(`refuses ${name} (invalid-variable naming the database)`, () => {
      const base = buildStore({ fvLength: 0x10000, storeSize: 0x8000 - 0x48, records: [] });
      assert.throws(
        () => enroll(base, changes),
        (e: unknown) => e instanceof VarStoreError && e.reason === 'invalid-variable' && want.test(e.message),
      );
    });
  }

  it('is InvalidNVRAM reason full, and nothing is returned, when the keys do not fit', () => {
    const small = buildStore({ fvLength: 0x2000, storeSize: 0x800 - 0x48, records: [] });
    assert.throws(
      () => enroll(small, enrollAll()),
      (e: unknown) => e instanceof VarStoreError && e.reason === 'full' && e.type === 'InvalidNVRAM',
    );
  });
});
