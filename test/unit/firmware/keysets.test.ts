/**
 * firmware/keysets: `[secure_boot_keyset:<name>]` sections read and checked the way edk2 will
 * use them, every problem naming its option; the built-in `debian` key set from the enrolled
 * template; a reload with problems keeps the key sets in force.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildConfig, ConfigError, type KeysetSection } from '../../../src/config';
import { BUILTIN_KEYSET, KeysetRegistry, keyChangesFor, loadKeysets } from '../../../src/firmware/keysets';
import { ecCert, keyDir, OWNER, smallRsaCert, testCert } from '../../support/sbKeys';

const MS_4M = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const HASH = 'ab'.repeat(32);

function section(over: Partial<KeysetSection> = {}): KeysetSection {
  return { name: 'custom', pk: '', kek: [], db: [], dbx: [], owner_guid: OWNER, allow_expired: false, ...over };
}

function load(over: Partial<KeysetSection>, now = new Date()) {
  return loadKeysets({ custom: section(over) }, { now });
}

describe('firmware/keysets', () => {
  before(function () {
    this.timeout(60000);
    testCert('ks-pk');
    testCert('ks-kek');
    testCert('ks-db');
  });

  it('reads PEM and DER certificates, hashes and EFI signature lists into a key set', () => {
    const esl = path.join(keyDir(), 'ks-db.esl');
    execFileSync('cert-to-efi-sig-list', ['-g', '99999999-8888-7777-6666-555555555555', testCert('ks-db').crt, esl], { stdio: 'ignore' });
    const { keysets, problems } = load({ pk: testCert('ks-pk').crt, kek: [testCert('ks-kek').der], db: [testCert('ks-db').crt, esl], dbx: [HASH] });
    assert.deepEqual(problems, []);
    const ks = keysets.get('custom');
    assert.ok(ks);
    assert.equal(ks.pk?.owner, OWNER);
    assert.equal(ks.pk?.data, testCert('ks-pk').derBytes.toString('hex'));
    assert.equal(ks.kek[0].data, testCert('ks-kek').derBytes.toString('hex'));
    assert.deepEqual(
      ks.db.map((d) => d.owner),
      [OWNER, '99999999-8888-7777-6666-555555555555'],
      'entries of a signature list keep their own owner',
    );
    assert.deepEqual(ks.dbx, [{ type: 'sha256', owner: OWNER, data: HASH }]);
    assert.deepEqual(
      keyChangesFor(ks).map((c) => `${c.op} ${c.db} ${'items' in c ? c.items.length : 0}`),
      ['set PK 1', 'set KEK 1', 'set db 2', 'set dbx 1'],
    );
  });

  it('leaves the databases a key set does not name alone', () => {
    const { keysets } = load({ db: [testCert('ks-db').crt] });
    assert.deepEqual(
      keyChangesFor(keysets.get('custom')!).map((c) => c.db),
      ['db'],
    );
  });

  const BAD: [string, () => Partial<KeysetSection>, RegExp][] = [
    ['an unreadable file', () => ({ pk: '/nonexistent/pk.crt' }), /\[secure_boot_keyset:custom\] pk: cannot read \/nonexistent\/pk\.crt: ENOENT/],
    [
      'a file that is not a certificate',
      () => {
        const f = path.join(keyDir(), 'junk.bin');
        fs.writeFileSync(f, 'hello, not a certificate at all');
        return { kek: [f] };
      },
      /\[secure_boot_keyset:custom\] kek: .*junk\.bin: not a certificate/,
    ],
    ['a private key instead of a certificate', () => ({ db: [testCert('ks-db').key] }), /\] db: .*PEM block 'PRIVATE KEY' is not a CERTIFICATE/],
    ['an EC key (wrong key type)', () => ({ kek: [ecCert('ks-ec').crt] }), /\] kek: .*wrong key type: ec/],
    ['an RSA key edk2 cannot use', () => ({ db: [smallRsaCert('ks-small').crt] }), /\] db: .*RSA-1024 key: edk2 needs RSA of 2048 to 4096 bits/],
    ['a PK file with two certificates', () => ({ pk: twoCerts() }), /\] pk: .*PK holds exactly one certificate, got 2/],
    ['a hash where PK wants a certificate', () => ({ pk: HASH }), /\] pk: PK holds certificates, not hashes/],
  ];
  for (const [name, over, want] of BAD) {
    it(`refuses ${name}, naming the option`, () => {
      const { problems } = load(over());
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0], want);
    });
  }

  it('refuses expired and not-yet-valid certificates unless allow_expired', () => {
    const later = new Date(Date.now() + 20 * 365 * 86400e3);
    const earlier = new Date(Date.now() - 86400e3);
    assert.match(load({ db: [testCert('ks-db').crt] }, later).problems[0], /\] db: .*expired on .*CN=ks-db/);
    assert.match(load({ db: [testCert('ks-db').crt] }, earlier).problems[0], /\] db: .*not yet valid/);
    assert.deepEqual(load({ db: [testCert('ks-db').crt], allow_expired: true }, later).problems, []);
  });

  it('lists every problem of every section at once', () => {
    const { problems } = loadKeysets(
      { a: section({ name: 'a', pk: '/nope' }), b: section({ name: 'b', kek: ['/nope2'], db: [ecCert('ks-ec').crt] }) },
      { now: new Date() },
    );
    assert.equal(problems.length, 3);
  });

  it('validates section names, owner GUIDs and empty sections in the config loader', () => {
    assert.throws(
      () =>
        buildConfig(
          {
            'secure_boot_keyset:bad name': { db: HASH, owner_guid: OWNER },
            'secure_boot_keyset:x': { db: HASH },
            'secure_boot_keyset:y': { owner_guid: 'not-a-guid', dbx: HASH },
            'secure_boot_keyset:z': { owner_guid: OWNER, color: 'blue' },
          },
          'test',
        ),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        const all = e.problems.join('\n');
        assert.match(all, /\[secure_boot_keyset:bad name\]: 'bad name' is not a key set name/);
        assert.match(all, /\[secure_boot_keyset:x\] owner_guid: required/);
        assert.match(all, /\[secure_boot_keyset:y\] owner_guid: 'not-a-guid' is not a GUID/);
        assert.match(all, /\[secure_boot_keyset:z\] color: unknown option/);
        assert.match(all, /\[secure_boot_keyset:z\]: holds no keys/);
        return true;
      },
    );
    const c = buildConfig({ 'secure_boot_keyset:rot-2023': { db: `${HASH}, /a.pem`, owner_guid: OWNER.toUpperCase(), allow_expired: 'yes' } }, 'test');
    assert.deepEqual(c.secureBootKeysets['rot-2023'], {
      name: 'rot-2023',
      pk: '',
      kek: [],
      db: [HASH, '/a.pem'],
      dbx: [],
      owner_guid: OWNER,
      allow_expired: true,
    });
  });

  it("reserves the built-in key set's name", () => {
    const { problems } = loadKeysets({ debian: section({ name: 'debian', dbx: [HASH] }) }, { now: new Date() });
    assert.match(problems[0], /'debian' is the built-in key set/);
  });

  it("offers Debian's enrolled template keys as the built-in key set 'debian'", function () {
    if (!fs.existsSync(MS_4M)) this.skip(); // ovmf not installed
    const { keysets, problems, notes } = loadKeysets({}, { now: new Date(), template: MS_4M });
    assert.deepEqual(problems, []);
    assert.deepEqual(notes, []);
    const ks = keysets.get(BUILTIN_KEYSET);
    assert.ok(ks);
    assert.equal(ks.source, `builtin:${MS_4M}`);
    assert.ok(ks.pk);
    assert.equal(ks.kek.length, 2);
    assert.equal(ks.db.length, 2);
    assert.equal(ks.dbx.length, 1);
  });

  it('keeps the key sets in force when a reload has problems', () => {
    const reg = new KeysetRegistry();
    assert.deepEqual(reg.replace(load({ dbx: [HASH] })), []);
    assert.deepEqual(reg.names(), ['custom']);
    const problems = reg.replace(loadKeysets({ other: section({ name: 'other', pk: '/nope' }) }, { now: new Date() }));
    assert.equal(problems.length, 1);
    assert.deepEqual(reg.names(), ['custom']);
  });
});

function twoCerts(): string {
  const f = path.join(keyDir(), 'two.pem');
  fs.writeFileSync(f, testCert('ks-pk').pem + testCert('ks-kek').pem);
  return f;
}
