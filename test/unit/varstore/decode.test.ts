import { strict as assert } from 'node:assert';
import { devicePathToText } from '../../../src/varstore/devicePath';
import { decodeVariable } from '../../../src/varstore/decode';
import { decodeLoadOption } from '../../../src/varstore/loadOption';
import { parseSignatureLists } from '../../../src/varstore/signatureList';
import { secureBootSummary } from '../../../src/varstore/secureBoot';
import {
  guidToBytes,
  EFI_GLOBAL_VARIABLE as G,
  EFI_IMAGE_SECURITY_DATABASE as DB,
  EFI_SECURE_BOOT_ENABLE_DISABLE as SBE,
  EFI_CERT_X509,
  EFI_CERT_SHA256,
  MICROSOFT_OWNER,
} from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';
import { utf16z, sigList, TEST_CERT_DER } from './builder';

const node = (type: number, sub: number, body: Buffer | string): Buffer => {
  const b = typeof body === 'string' ? Buffer.from(body, 'hex') : body;
  const h = Buffer.alloc(4);
  h[0] = type;
  h[1] = sub;
  h.writeUInt16LE(4 + b.length, 2);
  return Buffer.concat([h, b]);
};
const END = node(0x7f, 0xff, '');
const END_INSTANCE = node(0x7f, 0x01, '');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};
const acpi = (hid: number, uid: number) => node(2, 1, Buffer.concat([u32(hid), u32(uid)]));
const pci = (dev: number, fn: number) => node(1, 1, Buffer.from([fn, dev]));
const path = (...nodes: Buffer[]) => Buffer.concat([...nodes, END]);
const FV_GUID = '7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1';
const FILE_GUID = '462caa21-7614-4503-836e-8ab6f4662331';
const PART_GUID = '0fc63daf-8483-4772-8e79-3d69d8477de4';

function hd(sigType: number, sig: Buffer): Buffer {
  const sig16 = Buffer.concat([sig, Buffer.alloc(16 - sig.length)]);
  return node(4, 1, Buffer.concat([u32(1), u64(0x800n), u64(0x100000n), sig16, Buffer.from([sigType === 2 ? 2 : 1, sigType])]));
}

describe('varstore/devicePath', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['a SATA disk on q35', path(acpi(0x0a0341d0, 0), pci(0x1f, 2), node(3, 18, '0000ffff0000')), 'PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)'],
    [
      'a PCIe root and an NVMe namespace',
      path(acpi(0x0a0841d0, 1), pci(3, 0), node(3, 23, '01000000' + '0102030405060708')),
      'PcieRoot(0x1)/Pci(0x3,0x0)/NVMe(0x1,08-07-06-05-04-03-02-01)',
    ],
    ['a PS/2 keyboard (PNP EISA id)', path(acpi(0x030341d0, 0)), 'Acpi(PNP0303,0x0)'],
    ['a non-EISA ACPI id', path(acpi(0x12345678, 1)), 'Acpi(0x12345678,0x1)'],
    [
      'a NIC MAC address',
      path(pci(2, 0), node(3, 11, Buffer.concat([Buffer.from('525400123456', 'hex'), Buffer.alloc(26), Buffer.from([1])]))),
      'Pci(0x2,0x0)/MAC(525400123456,0x1)',
    ],
    ['an HTTP boot URI', path(node(3, 24, Buffer.from('http://boot.example/x.efi'))), 'Uri(http://boot.example/x.efi)'],
    [
      'a DHCP IPv4 node',
      path(
        node(
          3,
          12,
          Buffer.concat([
            Buffer.from([0, 0, 0, 0, 10, 0, 0, 1]),
            Buffer.from('00000000', 'hex'),
            Buffer.from('0600', 'hex'),
            Buffer.from([0]),
            Buffer.alloc(8),
          ]),
        ),
      ),
      'IPv4(10.0.0.1,TCP,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)',
    ],
    [
      'a GPT partition and a file',
      path(hd(2, guidToBytes(PART_GUID)), node(4, 4, utf16z('\\EFI\\BOOT\\BOOTX64.EFI'))),
      `HD(1,GPT,${PART_GUID.toUpperCase()},0x800,0x100000)/File(\\EFI\\BOOT\\BOOTX64.EFI)`,
    ],
    ['an MBR partition', path(hd(1, u32(0x1234abcd))), 'HD(1,MBR,0x1234ABCD,0x800,0x100000)'],
    [
      'a firmware volume file (UiApp)',
      path(node(4, 7, guidToBytes(FV_GUID)), node(4, 6, guidToBytes(FILE_GUID))),
      `Fv(${FV_GUID.toUpperCase()})/FvFile(${FILE_GUID.toUpperCase()})`,
    ],
    ['a hardware vendor node without data', path(node(1, 4, guidToBytes(FV_GUID))), `VenHw(${FV_GUID.toUpperCase()})`],
    [
      'a hardware vendor node with data',
      path(node(1, 4, Buffer.concat([guidToBytes(FV_GUID), Buffer.from('0a0b', 'hex')]))),
      `VenHw(${FV_GUID.toUpperCase()},0A0B)`,
    ],
    [
      'a serial console',
      path(node(3, 14, Buffer.concat([u32(0), u64(115200n), Buffer.from([8, 1, 1])])), node(3, 10, guidToBytes('e0c14753-f9be-11d2-9a0c-0090273fc14d'))),
      'Uart(115200,8,N,1)/VenPcAnsi()',
    ],
    ['an unknown node type', path(node(3, 99, '0102')), 'Path(3,99,0102)'],
    ['a known node that is too short', path(node(1, 1, '02')), 'Path(1,1,02)'],
    ['two instances', Buffer.concat([pci(1, 0), END_INSTANCE, pci(2, 0), END]), 'Pci(0x1,0x0),Pci(0x2,0x0)'],
    ['a node length below 4', Buffer.from('01010200', 'hex'), 'Malformed(01010200)'],
    ['a node running past the buffer', Buffer.concat([pci(1, 0), Buffer.from('0101ff00', 'hex')]), 'Pci(0x1,0x0)/Malformed(0101FF00)'],
    ['a truncated header', Buffer.from('0101', 'hex'), 'Malformed(0101)'],
    ['a path without an End node', pci(1, 0), 'Pci(0x1,0x0)'],
  ];
  for (const [name, buf, want] of cases) it(`renders ${name} as ${want}`, () => assert.equal(devicePathToText(buf), want));
});

function loadOption(attr: number, desc: string, dp: Buffer, optional = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt32LE(attr);
  h.writeUInt16LE(dp.length, 4);
  return Buffer.concat([h, utf16z(desc), dp, optional]);
}

describe('varstore/decode', () => {
  const v = (name: string, guid: string, data: Buffer | string): Variable => ({
    name,
    guid,
    attr: 7,
    data: typeof data === 'string' ? Buffer.from(data, 'hex') : data,
  });
  const sataPath = path(acpi(0x0a0341d0, 0), pci(0x1f, 2), node(3, 18, '0000ffff0000'));

  it('decodes a Boot#### load option with optional data', () => {
    const d = decodeVariable(v('Boot0001', G, loadOption(1, 'UEFI QEMU HARDDISK', sataPath, Buffer.from('4eac0881', 'hex'))));
    assert.deepEqual(d, {
      kind: 'load-option',
      attributes: 1,
      active: true,
      hidden: false,
      force_reconnect: false,
      category: 'boot',
      description: 'UEFI QEMU HARDDISK',
      device_path: 'PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)',
      optional_data: '4eac0881',
    });
  });

  it('decodes a hidden application load option (UiApp)', () => {
    const o = decodeLoadOption(loadOption(0x109, 'UiApp', path(node(4, 7, guidToBytes(FV_GUID)))));
    assert.equal(o.hidden, true);
    assert.equal(o.category, 'app');
    assert.equal(o.optional_data, undefined);
  });

  const table: Array<[string, Variable, unknown]> = [
    ['BootOrder', v('BootOrder', G, '01000a00'), { kind: 'boot-order', order: [1, 10], entries: ['Boot0001', 'Boot000A'] }],
    ['BootNext', v('BootNext', G, '0300'), { kind: 'boot-option-number', value: 3, entry: 'Boot0003' }],
    ['BootCurrent', v('BootCurrent', G, '0000'), { kind: 'boot-option-number', value: 0, entry: 'Boot0000' }],
    ['Timeout', v('Timeout', G, '0500'), { kind: 'u16', value: 5 }],
    ['PlatformLang', v('PlatformLang', G, '656e00'), { kind: 'string', value: 'en' }],
    ['SecureBootEnable', v('SecureBootEnable', SBE, '01'), { kind: 'u8', value: 1 }],
    ['ConOut', v('ConOut', G, path(pci(1, 0))), { kind: 'device-path', device_path: 'Pci(0x1,0x0)' }],
    ['an unknown variable', v('Foo', G, '00'), undefined],
    ['a known name under another GUID', v('BootOrder', DB, '0100'), undefined],
    ['a BootOrder of odd size', v('BootOrder', G, '010000'), { kind: 'malformed', error: 'an option list must have an even size, found 3' }],
    ['a Timeout of 3 bytes', v('Timeout', G, '050000'), { kind: 'malformed', error: 'a u16 must be 2 byte(s), found 3' }],
    ['a load option without NUL', v('Boot0000', G, '01000000040041004200'), { kind: 'malformed', error: 'load option description is not NUL-terminated' }],
    [
      'a load option whose path runs past the data',
      v('Boot0000', G, loadOption(1, 'x', Buffer.alloc(0)).fill(0xff, 4, 6)),
      { kind: 'malformed', error: 'load option FilePathListLength 65535 runs past the data (0 bytes left)' },
    ],
  ];
  for (const [name, variable, want] of table) it(`decodes ${name}`, () => assert.deepEqual(decodeVariable(variable), want));
});

describe('varstore/signatureList', () => {
  it('reads X.509 subjects, issuers, expiry and owners, and SHA-256 hashes', () => {
    const data = Buffer.concat([
      sigList(EFI_CERT_X509, [[MICROSOFT_OWNER, TEST_CERT_DER]]),
      sigList(EFI_CERT_SHA256, [
        [G, Buffer.alloc(32, 1)],
        [G, Buffer.alloc(32, 2)],
      ]),
    ]);
    const lists = parseSignatureLists(data);
    assert.equal(lists.length, 2);
    const cert = lists[0].entries[0];
    assert.equal(cert.owner, MICROSOFT_OWNER);
    assert.equal(cert.certificate?.subject, 'O=Nova Test, CN=Nova Test PK');
    assert.equal(cert.certificate?.issuer, 'O=Nova Test, CN=Nova Test PK');
    assert.equal(cert.certificate?.not_after, '2126-11-03T02:35:01.000Z');
    assert.deepEqual(
      lists[1].entries.map((e) => e.data),
      ['01'.repeat(32), '02'.repeat(32)],
    );
    const d = decodeVariable({ name: 'db', guid: DB, data });
    assert.ok(d && 'certificates' in d);
    assert.equal(d.certificates.length, 1);
    assert.equal(d.sha256_count, 2);
  });

  it('keeps going past an unreadable certificate', () => {
    const lists = parseSignatureLists(sigList(EFI_CERT_X509, [[G, Buffer.from('3003020101', 'hex')]]));
    assert.equal(lists[0].entries[0].error, 'unreadable X.509 certificate');
  });

  const malformed: Array<[string, Buffer, RegExp]> = [
    ['a truncated list header', Buffer.alloc(10), /shorter than a list header/],
    [
      'a ListSize past the data',
      (() => {
        const b = sigList(EFI_CERT_SHA256, [[G, Buffer.alloc(32)]]);
        b.writeUInt32LE(1000, 16);
        return b;
      })(),
      /SignatureListSize 1000 out of bounds/,
    ],
    [
      'a SignatureSize that does not divide the list',
      (() => {
        const b = sigList(EFI_CERT_SHA256, [[G, Buffer.alloc(32)]]);
        b.writeUInt32LE(47, 24);
        return b;
      })(),
      /do not divide/,
    ],
    [
      'a SignatureSize below the owner GUID',
      (() => {
        const b = sigList(EFI_CERT_SHA256, [[G, Buffer.alloc(32)]]);
        b.writeUInt32LE(0, 24);
        return b;
      })(),
      /do not divide/,
    ],
  ];
  for (const [name, data, re] of malformed) {
    it(`reports ${name} as malformed`, () => {
      const d = decodeVariable({ name: 'KEK', guid: G, data });
      assert.ok(d && 'error' in d);
      assert.match(d.error, re);
    });
  }
});

describe('varstore/secureBoot', () => {
  const pk: Variable = { name: 'PK', guid: G, attr: 0x27, data: sigList(EFI_CERT_X509, [[G, TEST_CERT_DER]]) };
  const sbe = (b: number): Variable => ({ name: 'SecureBootEnable', guid: SBE, attr: 3, data: Buffer.from([b]) });
  const table: Array<[string, Variable[], { enabled: boolean; setup_mode: boolean }]> = [
    ['an empty store is in setup mode with Secure Boot off', [], { enabled: false, setup_mode: true }],
    ['SecureBootEnable=1 without a PK stays in setup mode, off', [sbe(1)], { enabled: false, setup_mode: true }],
    ['a PK with SecureBootEnable=1 is on', [pk, sbe(1)], { enabled: true, setup_mode: false }],
    ['a PK with SecureBootEnable=0 is off (user mode)', [pk, sbe(0)], { enabled: false, setup_mode: false }],
    ['a PK without SecureBootEnable is on (the firmware creates it as 1)', [pk], { enabled: true, setup_mode: false }],
    ['a PK with SecureBootEnable=2 is off (only 1 enables)', [pk, sbe(2)], { enabled: false, setup_mode: false }],
  ];
  for (const [name, vars, want] of table) {
    it(name, () => {
      const s = secureBootSummary(vars);
      assert.deepEqual({ enabled: s.enabled, setup_mode: s.setup_mode }, want);
    });
  }
  it('lists certificate subjects and hash counts per database', () => {
    const dbx: Variable = {
      name: 'dbx',
      guid: DB,
      attr: 0x27,
      data: sigList(EFI_CERT_SHA256, [
        [G, Buffer.alloc(32)],
        [G, Buffer.alloc(32, 1)],
      ]),
    };
    const s = secureBootSummary([pk, dbx]);
    const { details, ...pkRest } = s.pk;
    assert.deepEqual(pkRest, { present: true, certificates: ['O=Nova Test, CN=Nova Test PK'], hash_count: 0 });
    assert.deepEqual(
      details.map((d) => [d.subject, d.issuer, d.expired, d.owner]),
      [['O=Nova Test, CN=Nova Test PK', 'O=Nova Test, CN=Nova Test PK', false, G]],
    );
    assert.equal(secureBootSummary([pk], new Date('2200-01-01')).pk.details[0].expired, true, 'expired judged at the given moment');
    assert.deepEqual(s.kek, { present: false, certificates: [], details: [], hash_count: 0 });
    assert.deepEqual(s.dbx, { present: true, certificates: [], details: [], hash_count: 2 });
    assert.equal(s.secure_boot_enable, null);
  });
  it('reports a malformed database instead of throwing', () => {
    const s = secureBootSummary([{ name: 'KEK', guid: G, attr: 0x27, data: Buffer.alloc(5) }]);
    assert.equal(s.kek.present, true);
    assert.match(s.kek.error ?? '', /shorter than a list header/);
  });
});
