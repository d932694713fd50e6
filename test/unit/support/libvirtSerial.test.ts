/** The e2e suite's reader of the UEFI shell's `dmpstore` output, on output captured from OVMF (Debian 2022.11). */
import { strict as assert } from 'node:assert';
import { LibvirtSerial, dumpedAgrees, dumpedString, parseDmpstore } from '../../support/libvirtSerial';

const CAPTURED =
  '\x1b[13;01H\x1b[1m\x1b[33m\x1b[40mShell> \x1b[0m\x1b[37m\x1b[40mdmpstore NusMarker -guid 3a7b9c1e-1111-2222-3333-444455556666\r\n' +
  "Variable \x1b[1m\x1b[37m\x1b[40mNV+BS\x1b[0m\x1b[37m\x1b[40m '\x1b[1m\x1b[37m\x1b[40m3A7B9C1E-1111-2222-3333-444455556666\x1b[0m\x1b[37m\x1b[40m:\x1b[1m\x1b[37m\x1b[40mNusMarker\x1b[0m\x1b[37m\x1b[40m' DataSize = 0x1A\r\n" +
  '  00000000: 68 00 61 00 72 00 64 00-2D 00 33 00 37 00 65 00  *h.a.r.d.-.3.7.e.*\r\n' +
  '  00000010: 63 00 37 00 62 00 36 00-36 00                    *c.7.b.6.6.*\r\n';

describe('parseDmpstore (UEFI shell output)', () => {
  const cases: [string, { given: string; want: ReturnType<typeof parseDmpstore> }][] = [
    [
      'one variable over two hex rows, ANSI colours removed first',
      {
        given: LibvirtSerial.clean(CAPTURED),
        want: [
          {
            name: 'NusMarker',
            guid: '3a7b9c1e-1111-2222-3333-444455556666',
            attrs: 'NV+BS',
            data: Buffer.from('hard-37ec7b66', 'utf16le'),
            size: 0x1a,
            complete: true,
          },
        ],
      },
    ],
    [
      'no variable',
      {
        given:
          'dmpstore X -guid 3a7b9c1e-1111-2222-3333-444455556666\r\ndmpstore: No matching variables found. Guid 3A7B9C1E-1111-2222-3333-444455556666, Name X\r\n',
        want: [],
      },
    ],
    [
      'DataSize bounds the bytes taken from the rows',
      {
        given:
          "Variable NV+BS+RT '8BE4DF61-93CA-11D2-AA0D-00E098032B8C:Timeout' DataSize = 0x2\r\n  00000000: 00 00                                            *..*\r\nVariable NV+BS+RT '8BE4DF61-93CA-11D2-AA0D-00E098032B8C:BootOrder' DataSize = 0x4\r\n  00000000: 01 00 00 00                                      *....*\r\n",
        want: [
          { name: 'Timeout', guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c', attrs: 'NV+BS+RT', data: Buffer.from([0, 0]), size: 2, complete: true },
          { name: 'BootOrder', guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c', attrs: 'NV+BS+RT', data: Buffer.from([1, 0, 0, 0]), size: 4, complete: true },
        ],
      },
    ],
  ];
  for (const [name, { given, want }] of cases) it(name, () => assert.deepEqual(parseDmpstore(given), want));

  it('marks a dump with lost serial bytes incomplete, and dumpedString refuses it', () => {
    const lost =
      "Variable NV+BS '3A7B9C1E-1111-2222-3333-444455556666:NusMarker' DataSize = 0x1A\r\n  00000000: 63 00 6F 00 6C 00 64 00-2D 00 65 00 64 00 35 00  *c.o.l.d.-.e.d.5.*\r\n  00000010: 38 00 39 00 66 00 39 00-Shell> ";
    assert.equal(parseDmpstore(lost)[0].complete, false);
    assert.throws(() => dumpedString(lost, 'NusMarker'), /fewer bytes than its DataSize/);
  });

  it('dumpedString decodes the UTF-16 value, and is null for an absent name', () => {
    assert.equal(dumpedString(LibvirtSerial.clean(CAPTURED), 'NusMarker'), 'hard-37ec7b66');
    assert.equal(dumpedString(LibvirtSerial.clean(CAPTURED), 'Other'), null);
  });

  describe('dumpedAgrees', () => {
    const head = "Variable NV+BS '3A7B9C1E-1111-2222-3333-444455556666:NusMarker' DataSize = 0x1A\r\n";
    // As a loaded host lost it: the rest of the second row and its line end never arrived.
    const cut = `${head}  00000000: 73 00 6F 00 66 00 74 00-2D 00 63 00 39 00 65 00  *s.o.f.t.-.c.9.e.*\r\n  00000010: 31 00 33 00 3`;
    const cases: [string, string, string | null, { agrees: boolean; partial: boolean }][] = [
      ['a complete dump of the value', LibvirtSerial.clean(CAPTURED), 'hard-37ec7b66', { agrees: true, partial: false }],
      ['a complete dump of another value', LibvirtSerial.clean(CAPTURED), 'hard-37ec7b67', { agrees: false, partial: false }],
      ['a cut dump whose size and first bytes are the value', cut, 'soft-c9e13abc', { agrees: true, partial: true }],
      ['a cut dump of another value of the same size', cut, 'soft-c9e23abc', { agrees: false, partial: true }],
      ['a cut dump of a longer value', cut, 'soft-c9e13abcd', { agrees: false, partial: true }],
      ['a dump cut before 8 bytes', `${head}  00000000: 73 00 6F`, 'soft-c9e13abc', { agrees: false, partial: true }],
      ['no such variable, none wanted', 'dmpstore: No matching variables found.', null, { agrees: true, partial: false }],
      ['output not understood, none wanted', 'garbage', null, { agrees: false, partial: false }],
      ['the variable, none wanted', LibvirtSerial.clean(CAPTURED), null, { agrees: false, partial: false }],
    ];
    for (const [name, out, want, expected] of cases) it(name, () => assert.deepEqual(dumpedAgrees(out, 'NusMarker', want), expected));
  });
});
