/**
 * Debian's installed firmware templates (ovmf / qemu-efi-aarch64 packages). Every case skips
 * with a reason when the file is absent.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { parseVarStore } from '../../../src/varstore/parse';
import { writeVarStore } from '../../../src/varstore/write';
import { probeVarStore } from '../../../src/varstore/probe';
import { setVariable, deleteVariable } from '../../../src/varstore/edit';
import { secureBootSummary } from '../../../src/varstore/secureBoot';
import { exportJson, importJson } from '../../../src/varstore/json';
import { VarStoreError } from '../../../src/varstore/errors';
import { EFI_GLOBAL_VARIABLE as G } from '../../../src/varstore/guids';

const TEMPLATES = [
  '/usr/share/OVMF/OVMF_VARS.fd',
  '/usr/share/OVMF/OVMF_VARS.ms.fd',
  '/usr/share/OVMF/OVMF_VARS_4M.fd',
  '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd',
  '/usr/share/AAVMF/AAVMF_VARS.fd',
  '/usr/share/AAVMF/AAVMF_VARS.ms.fd',
  '/usr/share/AAVMF/AAVMF_VARS.snakeoil.fd',
];
const MS_4M = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

const cache = new Map<string, Buffer>();
function load(ctx: Mocha.Context, file: string): Buffer {
  if (!existsSync(file)) ctx.skip(); // template not installed on this host (Debian ovmf / qemu-efi-aarch64)
  let b = cache.get(file);
  if (!b) {
    b = readFileSync(file);
    cache.set(file, b);
  }
  return b;
}

describe('varstore on Debian templates', function () {
  this.timeout(30000);

  // Every formatted template; AAVMF_VARS.fd (all zeros) has its own 'unformatted' case below.
  for (const file of TEMPLATES.filter((f) => f !== '/usr/share/AAVMF/AAVMF_VARS.fd')) {
    it(`round-trips ${file} byte-identically`, function () {
      const buf = load(this, file);
      assert.equal(probeVarStore(buf), 'edk2');
      const s = parseVarStore(buf);
      assert.ok(writeVarStore(buf, s.variables).equals(buf));
      assert.ok(writeVarStore(buf, importJson(exportJson(s.variables))).equals(buf), 'also through the JSON format');
    });
  }

  it('reports AAVMF_VARS.fd (64 MiB of zeros) as unformatted', function () {
    const buf = load(this, '/usr/share/AAVMF/AAVMF_VARS.fd');
    assert.equal(probeVarStore(buf), 'unformatted');
    assert.throws(
      () => parseVarStore(buf),
      (e: unknown) => e instanceof VarStoreError && e.reason === 'unformatted',
    );
  });

  for (const file of ['/usr/share/OVMF/OVMF_VARS.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd']) {
    it(`shows no variables in the empty template ${file}, Secure Boot off in setup mode`, function () {
      const s = parseVarStore(load(this, file));
      assert.equal(s.variables.length, 0);
      assert.equal(s.listEnd, 0x64);
      assert.deepEqual(
        { ...secureBootSummary(s.variables), pk: undefined, kek: undefined, db: undefined, dbx: undefined },
        {
          enabled: false,
          setup_mode: true,
          secure_boot_enable: null,
          custom_mode: false,
          pk: undefined,
          kek: undefined,
          db: undefined,
          dbx: undefined,
        },
      );
    });
  }

  it('reads OVMF_VARS_4M.ms.fd as in the reference: 31 live and 26 deleted records ending at 0x5998', function () {
    const s = parseVarStore(load(this, MS_4M));
    assert.equal(s.fv.length, 0x84000);
    assert.equal(s.fv.checksum, 0xb8af);
    assert.equal(s.store.size, 0x3ffb8);
    assert.equal(s.variables.length, 31);
    assert.equal(s.deletedCount, 26);
    assert.equal(s.listEnd, 0x5998);
    const sizes = Object.fromEntries(s.variables.map((v) => [v.name, v.data.length]));
    assert.deepEqual({ db: sizes.db, dbx: sizes.dbx, KEK: sizes.KEK, PK: sizes.PK }, { db: 3143, dbx: 76, KEK: 2565, PK: 1005 });
  });

  it('shows PK, KEK and db of OVMF_VARS_4M.ms.fd with Microsoft certificates and Secure Boot enabled', function () {
    const sb = secureBootSummary(parseVarStore(load(this, MS_4M)).variables);
    assert.equal(sb.enabled, true);
    assert.equal(sb.setup_mode, false);
    assert.equal(sb.secure_boot_enable, 1);
    assert.equal(sb.pk.certificates.length, 1);
    assert.ok(
      sb.kek.certificates.some((c) => c.includes('CN=Microsoft Corporation KEK CA 2011')),
      sb.kek.certificates.join('|'),
    );
    assert.ok(sb.db.certificates.some((c) => c.includes('CN=Microsoft Windows Production PCA 2011')));
    assert.ok(sb.db.certificates.some((c) => c.includes('CN=Microsoft Corporation UEFI CA 2011')));
    assert.deepEqual({ certs: sb.dbx.certificates.length, hashes: sb.dbx.hash_count }, { certs: 0, hashes: 1 });
  });

  it('set then delete on OVMF_VARS_4M.ms.fd returns the live variable set to the original', function () {
    const buf = load(this, MS_4M);
    const orig = parseVarStore(buf).variables;
    const set = writeVarStore(buf, setVariable(orig, { name: 'NovaTest', guid: G, attr: 7, data: Buffer.from('2a', 'hex') }));
    assert.equal(parseVarStore(set).variables.length, 32);
    const back = writeVarStore(set, deleteVariable(parseVarStore(set).variables, 'NovaTest', G));
    const strip = (b: Buffer) => parseVarStore(b).variables.map((v) => [v.name, v.guid, v.attr, v.data.toString('hex'), v.timestamp.toString('hex')]);
    assert.deepEqual(strip(back), strip(buf));
    assert.equal(back.length, buf.length);
    assert.ok(back.subarray(0x40000).equals(buf.subarray(0x40000)), 'event log, FTW and spare untouched');
  });

  it('refuses a variable that does not fit in OVMF_VARS.ms.fd (2M) with reason full', function () {
    const buf = load(this, '/usr/share/OVMF/OVMF_VARS.ms.fd');
    const vars = setVariable(parseVarStore(buf).variables, { name: 'Huge', guid: G, attr: 3, data: Buffer.alloc(0xe000) });
    assert.throws(
      () => writeVarStore(buf, vars),
      (e: unknown) => e instanceof VarStoreError && e.reason === 'full',
    );
  });

  it('shows AAVMF_VARS.ms.fd with 22 live and 7 deleted records and Secure Boot enabled', function () {
    const s = parseVarStore(load(this, '/usr/share/AAVMF/AAVMF_VARS.ms.fd'));
    assert.equal(s.variables.length, 22);
    assert.equal(s.deletedCount, 7);
    assert.equal(s.listEnd, 0x2638);
    assert.equal(secureBootSummary(s.variables).enabled, true);
  });
});
