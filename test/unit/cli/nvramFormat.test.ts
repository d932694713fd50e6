/**
 * cli/nvramFormat: the text `nova-uefi-shim nvram` prints: one aligned row per variable with a
 * decoded summary, the Secure Boot verdict with its reason, and diffs as -/+/~ lines. Stores
 * are built with the test builder and parsed by the library; expected text is written out.
 */
import { strict as assert } from 'node:assert';
import { commonName, diffText, secureBootText, showJson, storeHeaderText, summarise, variablesText } from '../../../src/cli/nvramFormat';
import { parseVarStore, secureBootSummary, type SecureBootSummary, type Variable } from '../../../src/varstore';
import { EFI_CERT_X509, EFI_GLOBAL_VARIABLE as G, EFI_SECURE_BOOT_ENABLE_DISABLE as SBE } from '../../../src/varstore/guids';
import { TEST_CERT_DER, buildStore, sigList } from '../varstore/builder';

const OTHER = '11111111-2222-4333-8444-555555555555';

describe('cli/nvramFormat', () => {
  const cn: Array<[string, string]> = [
    ['O=Nova Test, CN=Nova Test PK', 'Nova Test PK'],
    ['CN=Only', 'Only'],
    ['C=US, O=Microsoft Corporation, CN=Microsoft Corporation KEK CA 2011, OU=x', 'Microsoft Corporation KEK CA 2011'],
    ['CN=Comma, Inc. Root, O=Org', 'Comma, Inc. Root'],
    ['O=No Common Name', 'O=No Common Name'],
  ];
  for (const [subject, want] of cn) it(`commonName('${subject}') is '${want}'`, () => assert.equal(commonName(subject), want));

  describe('summarise', () => {
    const cases: Array<[string, Parameters<typeof summarise>[0], Buffer, string]> = [
      ['an undecoded short value as hex', undefined, Buffer.from('0102', 'hex'), '0102'],
      ['an undecoded long value as 16 bytes of hex and an ellipsis', undefined, Buffer.alloc(17, 0xab), `${'ab'.repeat(16)}…`],
      ['a malformed value', { kind: 'u16', error: 'a u16 must be 2 byte(s), found 3' }, Buffer.alloc(3), 'malformed: a u16 must be 2 byte(s), found 3'],
      ['a boot order', { kind: 'boot-order', order: [1, 10], entries: ['Boot0001', 'Boot000A'] }, Buffer.alloc(4), 'Boot0001,Boot000A'],
      ['an empty boot order', { kind: 'boot-order', order: [], entries: [] }, Buffer.alloc(0), '(empty)'],
      ['a boot option number', { kind: 'boot-option-number', value: 3, entry: 'Boot0003' }, Buffer.alloc(2), 'Boot0003'],
      ['a string quoted', { kind: 'string', value: 'en-US' }, Buffer.alloc(6), '"en-US"'],
      ['a number', { kind: 'u16', value: 5 }, Buffer.alloc(2), '5'],
      ['a device path', { kind: 'device-path', device_path: 'PciRoot(0x0)' }, Buffer.alloc(4), 'PciRoot(0x0)'],
      [
        'a load option with flags and optional data',
        {
          kind: 'load-option',
          attributes: 0x109,
          active: true,
          hidden: true,
          force_reconnect: false,
          category: 'app',
          description: 'UiApp',
          device_path: 'Fv(X)/FvFile(Y)',
          optional_data: '0a0b0c',
        },
        Buffer.alloc(0),
        '"UiApp" [active,hidden,app] Fv(X)/FvFile(Y) +3 B optional data',
      ],
      [
        'an inactive boot option',
        {
          kind: 'load-option',
          attributes: 0,
          active: false,
          hidden: false,
          force_reconnect: false,
          category: 'boot',
          description: 'PXE',
          device_path: 'MAC(1,0x1)',
        },
        Buffer.alloc(0),
        '"PXE" [inactive] MAC(1,0x1)',
      ],
      [
        'a signature database',
        {
          kind: 'signature-database',
          certificates: [{ subject: 'O=A, CN=Key One', issuer: '', not_after: '', sha256: '', owner: G }],
          sha256_count: 2,
          other: { sha1: 1 },
        },
        Buffer.alloc(0),
        'x509: Key One; sha256 x2; sha1 x1',
      ],
      ['an empty signature database', { kind: 'signature-database', certificates: [], sha256_count: 0, other: {} }, Buffer.alloc(0), '(empty)'],
    ];
    for (const [title, d, data, want] of cases) it(`says ${title}: ${want}`, () => assert.equal(summarise(d, data), want));
  });

  describe('a parsed store', () => {
    const file = buildStore({
      records: [
        { name: 'BootOrder', guid: G, data: Buffer.from('0100', 'hex') },
        { name: 'Timeout', guid: G, data: Buffer.from('0500', 'hex'), state: 0x3c },
        { name: 'LongVendorVariable', guid: OTHER, attr: 3, data: Buffer.alloc(20, 1) },
      ],
    });
    const store = parseVarStore(file, { includeDeleted: true });

    it('the header names the format, size, offsets, free bytes and counts', () => {
      const t = storeHeaderText('x_VARS.fd', store).split('\n');
      assert.equal(t[0], `x_VARS.fd: edk2 authenticated variable store, ${file.length} bytes`);
      assert.match(t[1], /^ {2}volume at 0x0 \(0x8000 bytes\), store at 0x48 \(0x[0-9a-f]+ bytes\), records end at 0x[0-9a-f]+, \d+ bytes free$/);
      assert.equal(t[2], '  2 variables, 1 deleted records');
    });

    it('variablesText aligns the columns, names vendors and attributes, and decodes live values only', () => {
      const lines = variablesText(store.variables, true).split('\n');
      assert.equal(lines.length, 4);
      const valueAt = lines[0].indexOf('VALUE');
      for (const l of lines.slice(1)) assert.ok(l.length > valueAt, l);
      // Every column starts at the same place in every line, two spaces after the widest cell before it.
      const starts = ['STATE', 'NAME', 'VENDOR', 'ATTR', 'SIZE', 'VALUE'].map((h) => lines[0].indexOf(h));
      for (const l of lines)
        for (const at of starts) assert.ok(at === 0 || (l[at - 1] === ' ' && l[at - 2] === ' ' && l[at] !== ' '), `column at ${at} in '${l}'`);
      assert.equal(starts[2] - starts[1], 'LongVendorVariable'.length + 2, 'NAME is as wide as its widest cell');
      assert.match(lines[1], /^live +BootOrder +EfiGlobalVariable +NV,BS,RT +2 +Boot0001$/);
      assert.match(lines[2], /^deleted +Timeout +EfiGlobalVariable +NV,BS,RT +2 +0500$/, 'a deleted value is not decoded');
      assert.match(lines[3], new RegExp(`^live +LongVendorVariable +${OTHER} +NV,BS +20 +${'01'.repeat(16)}…$`));
    });

    it('variablesText leaves the state column out unless asked', () => {
      const live = store.variables.filter((v) => v.live);
      assert.match(variablesText(live, false).split('\n')[0], /^NAME +VENDOR +ATTR +SIZE +VALUE$/);
    });

    it('showJson gives offsets, hex data, and state only for records that are not live', () => {
      const j = showJson('x_VARS.fd', store) as { file: string; store: Record<string, number>; variables: Array<Record<string, unknown>> };
      assert.equal(j.file, 'x_VARS.fd');
      assert.equal(j.store.records, 3);
      assert.equal(j.store.deleted_records, 1);
      assert.deepEqual(j.variables[0].decoded, { kind: 'boot-order', order: [1], entries: ['Boot0001'] });
      assert.equal(j.variables[0].data, '0100');
      assert.equal('state' in j.variables[0], false);
      assert.equal(j.variables[1].state, 0x3c);
      assert.equal('decoded' in j.variables[1], false);
      assert.equal('time' in j.variables[0], false, 'a zero timestamp is left out');
    });
  });

  describe('secureBootText', () => {
    const pk: Variable = { name: 'PK', guid: G, attr: 0x27, data: sigList(EFI_CERT_X509, [[G, TEST_CERT_DER]]) };
    it('says setup mode when no PK is enrolled, and every database as not enrolled', () => {
      assert.equal(
        secureBootText(secureBootSummary([])),
        ['Secure Boot: disabled (setup mode: no PK enrolled)', 'PK:  not enrolled', 'KEK: not enrolled', 'db:  not enrolled', 'dbx: not enrolled'].join('\n'),
      );
    });

    it('says enabled in user mode, SecureBootEnable absent, and lists the certificate subjects', () => {
      const t = secureBootText(secureBootSummary([pk])).split('\n');
      assert.equal(t[0], 'Secure Boot: enabled (user mode, SecureBootEnable absent (firmware creates it as 1))');
      assert.deepEqual(t.slice(1, 3), ['PK:  1 certificate', '       O=Nova Test, CN=Nova Test PK']);
    });

    it('says disabled with SecureBootEnable = 0, and custom mode', () => {
      const s: SecureBootSummary = { ...secureBootSummary([pk, { name: 'SecureBootEnable', guid: SBE, attr: 3, data: Buffer.from([0]) }]), custom_mode: true };
      assert.equal(secureBootText(s).split('\n')[0], 'Secure Boot: disabled (user mode, SecureBootEnable = 0), custom mode');
    });

    it('counts hashes with the right plural and says a malformed database', () => {
      const base = secureBootSummary([]);
      const s: SecureBootSummary = {
        ...base,
        db: { present: true, certificates: ['A', 'B'], details: [], hash_count: 1 },
        dbx: { present: true, certificates: [], details: [], hash_count: 0, error: 'SignatureListSize 9 out of bounds' },
      };
      const t = secureBootText(s).split('\n');
      assert.deepEqual(t.slice(3), ['db:  2 certificates, 1 SHA-256 hash', '       A', '       B', 'dbx: malformed: SignatureListSize 9 out of bounds']);
    });
  });

  it('diffText writes removed, added and changed variables, one line each', () => {
    const a: Variable = { name: 'Boot0001', guid: G, attr: 7, data: Buffer.alloc(10) };
    const b: Variable = { name: 'X', guid: OTHER.toUpperCase(), attr: 3, data: Buffer.alloc(4) };
    const text = diffText({
      removed: [a],
      added: [b],
      changed: [
        {
          name: 'BootOrder',
          guid: G,
          fields: ['attr', 'data', 'time'],
          before: { ...a, name: 'BootOrder' },
          after: { ...a, name: 'BootOrder', attr: 3, data: Buffer.alloc(12) },
        },
      ],
    });
    assert.equal(
      text,
      [
        '- Boot0001 (EfiGlobalVariable)',
        `+ X (${OTHER}): 4 bytes, attr 0x3`,
        '~ BootOrder (EfiGlobalVariable): attr 0x7 -> 0x3, data 10 -> 12 bytes, timestamp',
      ].join('\n'),
    );
    assert.equal(diffText({ removed: [], added: [], changed: [] }), '');
  });
});
