/**
 * config (index.ts's own functions; config.test.ts reads whole files): each option type's
 * conversion and its refusal naming section and key, top-level keys as [DEFAULT], prefixed
 * sections ([firmware:<arch>], [secure_boot_keyset:<name>]) and their checks, the
 * cross-checks, and the helpers (rawSections, sectionsFrom, optionValue, deepFreeze).
 */
import { strict as assert } from 'node:assert';
import { buildConfig, ConfigError, deepFreeze, optionValue, OPTIONS, rawSections, sectionsFrom, testConfig } from '../../../src/config';

const GUID = '77FA9ABD-0359-4D32-BD60-28F4E78F784B';

/** The problems `raw` is refused with (fails when it is accepted). */
function problems(raw: Record<string, unknown>): string[] {
  try {
    buildConfig(raw, 'test');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.message, `invalid configuration:\n  - ${e.problems.join('\n  - ')}`);
    return e.problems;
  }
  return assert.fail('accepted');
}

describe('config (index)', () => {
  it('converts each type from its text form, trimming', () => {
    const c = buildConfig(
      {
        peer: { timeout: ' 45 ', hosts: 'compute2 = http://10.0.0.2:7780 , compute3=http://10.0.0.3:7780' },
        nvram: { mode: '0640' },
        hypervisor: { backend: 'embedded' },
        replica: { backend: 'none' },
        api: { metrics_enabled: 'off' },
      },
      'test',
    );
    assert.equal(c.peer.timeout, 45);
    assert.deepEqual(c.peer.hosts, { compute2: 'http://10.0.0.2:7780', compute3: 'http://10.0.0.3:7780' });
    assert.equal(c.nvram.mode, 0o640);
    assert.equal(c.api.metrics_enabled, false);
    assert.equal(c.source, 'test');
  });

  it('reads booleans as oslo does (true/yes/on/1, false/no/off/0, any case) and refuses anything else', () => {
    for (const [t, want] of [
      ['TRUE', true],
      ['yes', true],
      ['On', true],
      ['1', true],
      ['False', false],
      ['no', false],
      ['OFF', false],
      ['0', false],
    ] as const)
      assert.equal(buildConfig({ api: { metrics_enabled: t } }, 't').api.metrics_enabled, want, t);
    assert.deepEqual(problems({ api: { metrics_enabled: 'maybe' } }), ["[api] metrics_enabled: 'maybe' is not a boolean"]);
  });

  it('refuses, all at once and naming section and key: an int out of bounds, a bad octal mode, a choice not offered, a dict entry without =', () => {
    const p = problems({
      peer: { timeout: '0', max_clock_skew: '1.5', hosts: 'compute2' },
      nvram: { mode: '0999' },
      hypervisor: { backend: 'xen' },
    });
    assert.equal(p.length, 5, p.join('\n'));
    assert.ok(p.includes("[peer] timeout: '0' is not an integer in [1, inf]"), p.join('\n'));
    assert.ok(p.includes("[peer] max_clock_skew: '1.5' is not an integer in [1, inf]"));
    assert.ok(p.includes("[peer] hosts: 'compute2' is not a key=value pair"));
    assert.ok(p.includes("[nvram] mode: '0999' is not an octal file mode such as 0600"));
    assert.ok(p.some((x) => /^\[hypervisor\] backend: 'xen' is not one of /.test(x)));
  });

  it('takes keys before any section header as [DEFAULT], and refuses unknown options and sections', () => {
    assert.equal(buildConfig({ host: 'compute7' }, 't').DEFAULT.host, 'compute7');
    assert.equal(buildConfig({ host: 'top', DEFAULT: { host: 'section wins' } }, 't').DEFAULT.host, 'section wins');
    assert.deepEqual(problems({ hots: 'x', api: { prot: '1' }, apii: { port: '1' } }).sort(), [
      '[DEFAULT] hots: unknown option',
      '[api] prot: unknown option',
      '[apii]: unknown section',
    ]);
  });

  it('reads [firmware:<arch>] sections into the firmware map, refusing bad architecture names and unknown keys', () => {
    const c = buildConfig({ 'firmware:x86_64': { loader: '/fw/CODE.fd', machines: 'pc-q35-*, virt-*' } }, 't');
    assert.equal(c.firmwareMap.x86_64.arch, 'x86_64');
    assert.equal(c.firmwareMap.x86_64.loader, '/fw/CODE.fd');
    assert.deepEqual(c.firmwareMap.x86_64.machines, ['pc-q35-*', 'virt-*']);
    assert.equal(c.firmwareMap.x86_64.secure_requires_smm, true, 'the table default');
    assert.deepEqual(problems({ 'firmware:X86-64': { loader: '/a' }, 'firmware:aarch64': { lodaer: '/a' } }).sort(), [
      "[firmware:X86-64]: 'X86-64' is not an architecture name",
      '[firmware:aarch64] lodaer: unknown option',
    ]);
  });

  it('reads [secure_boot_keyset:<name>] with its owner GUID lower-cased; a set needs a GUID and at least one key', () => {
    const c = buildConfig({ 'secure_boot_keyset:corp-2026': { owner_guid: GUID, db: '/k/db1.pem,/k/db2.pem' } }, 't');
    const ks = c.secureBootKeysets['corp-2026'];
    assert.equal(ks.name, 'corp-2026');
    assert.equal(ks.owner_guid, GUID.toLowerCase());
    assert.deepEqual(ks.db, ['/k/db1.pem', '/k/db2.pem']);
    assert.deepEqual(problems({ 'secure_boot_keyset:a': { db: '/k/db.pem' } }), [
      "[secure_boot_keyset:a] owner_guid: required (the SignatureOwner GUID of the key set's entries)",
    ]);
    assert.deepEqual(problems({ 'secure_boot_keyset:a': { owner_guid: 'not-a-guid', pk: '/k/pk.pem' } }), [
      "[secure_boot_keyset:a] owner_guid: 'not-a-guid' is not a GUID",
    ]);
    assert.deepEqual(problems({ 'secure_boot_keyset:a': { owner_guid: GUID } }), ['[secure_boot_keyset:a]: holds no keys (set pk, kek, db or dbx)']);
    assert.match(problems({ 'secure_boot_keyset:-x': { owner_guid: GUID, pk: '/p' } })[0], /^\[secure_boot_keyset:-x\]: '-x' is not a key set name/);
  });

  it('cross-checks: TLS certificate and key together; peer URLs http(s) only', () => {
    assert.deepEqual(problems({ api: { tls_cert_file: '/etc/c.pem' } }), ['[api] tls_cert_file and tls_key_file must be set together']);
    assert.deepEqual(problems({ peer: { hosts: 'c2=ftp://c2', url_template: 'c{host}:7780' } }), [
      "[peer] hosts: 'c2=ftp://c2' is not an http:// or https:// URL",
      "[peer] url_template: 'c{host}:7780' is not an http:// or https:// URL",
    ]);
  });

  it('a built config is frozen through and through', () => {
    const c = testConfig({ peer: { hosts: { c2: 'http://c2:1' } } });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.peer) && Object.isFrozen(c.peer.hosts));
    assert.throws(() => {
      c.peer.hosts.c3 = 'http://c3';
    }, TypeError);
  });

  it('rawSections writes values in the text form a file holds (lists, maps, an octal nvram mode)', () => {
    assert.deepEqual(
      rawSections({ firmware: { descriptor_dirs: ['/a', '/b'] }, peer: { hosts: { a: 'http://a', b: 'http://b' }, timeout: 5 }, nvram: { mode: 0o640 } }),
      {
        firmware: { descriptor_dirs: '/a,/b' },
        peer: { hosts: 'a=http://a,b=http://b', timeout: 5 },
        nvram: { mode: '0640' },
      },
    );
    assert.equal(testConfig({ nvram: { mode: 0o600 } }).nvram.mode, 0o600);
  });

  it('sectionsFrom groups a table by section; optionValue reads one option back', () => {
    const defs = [
      { section: 'a', key: 'x', type: 'int', default: 1, help: 'x x x x x x' },
      { section: 'a', key: 'y', type: 'bool', default: false, help: 'y y y y y y' },
      { section: 'b', key: 'z', type: 'string', default: '', help: 'z z z z z z' },
    ] as const;
    assert.deepEqual(
      sectionsFrom(defs, (d) => `${d.section}.${d.key}`),
      { a: { x: 'a.x', y: 'a.y' }, b: { z: 'b.z' } },
    );
    const c = testConfig({ peer: { timeout: 9 } });
    const timeout = OPTIONS.find((d) => d.section === 'peer' && d.key === 'timeout')!;
    assert.equal(optionValue(c, timeout), 9);
  });

  it('deepFreeze freezes nested values and answers its argument; primitives pass through', () => {
    const o = { a: { b: [1, { c: 2 }] } };
    assert.equal(deepFreeze(o), o);
    assert.ok(Object.isFrozen(o.a.b[1]));
    assert.equal(deepFreeze(3), 3);
    assert.equal(deepFreeze(null), null);
  });
});
