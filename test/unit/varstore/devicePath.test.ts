/**
 * varstore/devicePath: the node renderers decode.test.ts does not reach (Ata, Scsi, USB,
 * UsbClass, IPv6, CDROM, Offset, BBS, MemoryMapped, Ctrl, BMC, AcpiAdr, vendor consoles and
 * flow control), each node built by hand from UEFI 2.10 §10.3, and how instances and End
 * nodes split a path.
 */
import { strict as assert } from 'node:assert';
import { deviceNodeToText, devicePathToText } from '../../../src/varstore/devicePath';
import { EFI_UART_DEVICE_PATH, EFI_VT100, EFI_VT100_PLUS, EFI_VT_UTF8, guidToBytes } from '../../../src/varstore/guids';

const node = (type: number, sub: number, ...parts: Buffer[]): Buffer => {
  const b = Buffer.concat(parts);
  const h = Buffer.from([type, sub, 0, 0]);
  h.writeUInt16LE(4 + b.length, 2);
  return Buffer.concat([h, b]);
};
const u8 = (...n: number[]) => Buffer.from(n);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
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
const END = node(0x7f, 0xff);
const VENDOR = '7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1';

describe('varstore/devicePath', () => {
  const nodes: Array<[string, Buffer, string]> = [
    ['a PC card', node(1, 2, u8(3)), 'PcCard(0x3)'],
    ['a memory-mapped range', node(1, 3, u32(11), u64(0xfee00000n), u64(0xfee00fffn)), 'MemoryMapped(0xB,0xFEE00000,0xFEE00FFF)'],
    ['a controller', node(1, 5, u32(2)), 'Ctrl(0x2)'],
    ['a BMC', node(1, 6, u8(1), u64(0xca2n)), 'BMC(0x1,0xCA2)'],
    ['an ACPI _ADR with two addresses', node(2, 3, u32(0x80010100), u32(0x80010200)), 'AcpiAdr(0x80010100,0x80010200)'],
    ['a floppy (PNP0604)', node(2, 1, u32(0x060441d0), u32(0)), 'Floppy(0x0)'],
    ['a serial port (PNP0501)', node(2, 1, u32(0x050141d0), u32(1)), 'Serial(0x1)'],
    ['an ATA secondary slave', node(3, 1, u8(1, 1), u16(0)), 'Ata(Secondary,Slave,0x0)'],
    ['an ATA primary master', node(3, 1, u8(0, 0), u16(2)), 'Ata(Primary,Master,0x2)'],
    ['a SCSI target and LUN', node(3, 2, u16(1), u16(0)), 'Scsi(0x1,0x0)'],
    ['a USB port', node(3, 5, u8(2, 0)), 'USB(0x2,0x0)'],
    ['a USB class', node(3, 15, u16(0x46f4), u16(1), u8(3, 1, 1)), 'UsbClass(0x46F4,0x1,0x3,0x1,0x1)'],
    ['a MAC of type 6 (32 bytes shown)', node(3, 11, Buffer.alloc(32, 0xab), u8(6)), `MAC(${'AB'.repeat(32)},0x6)`],
    [
      'a static IPv4 node without gateway',
      node(3, 12, u8(192, 168, 0, 2), u8(192, 168, 0, 1), u16(0), u16(69), u16(17), u8(1)),
      'IPv4(192.168.0.1,UDP,Static,192.168.0.2)',
    ],
    [
      'an IPv6 node with prefix and gateway',
      node(
        3,
        13,
        Buffer.from('fd000000000000000000000000000002', 'hex'),
        Buffer.from('fd000000000000000000000000000001', 'hex'),
        u16(0),
        u16(0),
        u16(6),
        u8(1),
        u8(64),
        Buffer.from('fd0000000000000000000000000000fe', 'hex'),
      ),
      'IPv6(fd00:0:0:0:0:0:0:1,TCP,StatelessAutoConfigure,fd00:0:0:0:0:0:0:2,0x40,fd00:0:0:0:0:0:0:fe)',
    ],
    ['a UART with defaults', node(3, 14, u32(0), u64(0n), u8(0, 0, 0)), 'Uart(DEFAULT,DEFAULT,D,D)'],
    ['a UART 9600 7E1.5', node(3, 14, u32(0), u64(9600n), u8(7, 2, 2)), 'Uart(9600,7,E,1.5)'],
    ['a VT100 console', node(3, 10, guidToBytes(EFI_VT100)), 'VenVt100()'],
    ['a VT100+ console', node(3, 10, guidToBytes(EFI_VT100_PLUS)), 'VenVt100Plus()'],
    ['a UTF-8 console', node(3, 10, guidToBytes(EFI_VT_UTF8)), 'VenUtf8()'],
    ['UART hardware flow control', node(3, 10, guidToBytes(EFI_UART_DEVICE_PATH), u32(1)), 'UartFlowCtrl(Hardware)'],
    ['UART XON/XOFF flow control', node(3, 10, guidToBytes(EFI_UART_DEVICE_PATH), u32(2)), 'UartFlowCtrl(XonXoff)'],
    [
      'UART flow control value 3 as a vendor node',
      node(3, 10, guidToBytes(EFI_UART_DEVICE_PATH), u32(3)),
      `VenMsg(${EFI_UART_DEVICE_PATH.toUpperCase()},03000000)`,
    ],
    ['another messaging vendor', node(3, 10, guidToBytes(VENDOR), u8(0xde, 0xad)), `VenMsg(${VENDOR.toUpperCase()},DEAD)`],
    ['a CD-ROM boot entry', node(4, 2, u32(0), u64(0x100n), u64(0x2000n)), 'CDROM(0x0,0x100,0x2000)'],
    ['a media vendor node', node(4, 3, guidToBytes(VENDOR)), `VenMedia(${VENDOR.toUpperCase()})`],
    ['a media protocol', node(4, 5, guidToBytes(VENDOR)), `Media(${VENDOR.toUpperCase()})`],
    ['a relative offset range', node(4, 8, u32(0), u64(0x10n), u64(0x20n)), 'Offset(0x10,0x20)'],
    ['a partition without signature type', node(4, 1, u32(2), u64(1n), u64(2n), Buffer.alloc(16), u8(0, 0)), 'HD(2,0,0,0x1,0x2)'],
    ['a BBS entry', node(5, 1, u16(2), u16(0), Buffer.from('CDROM\0', 'latin1')), 'BBS(0x2,CDROM,0x0)'],
  ];
  for (const [title, n, want] of nodes) it(`renders ${title} as ${want}`, () => assert.equal(deviceNodeToText(n), want));

  it('renders a node one byte short of its minimum as Path(type,subtype,hex)', () => {
    assert.equal(deviceNodeToText(node(3, 2, u16(1), u8(0))), 'Path(3,2,010000)');
    assert.equal(deviceNodeToText(node(4, 8, Buffer.alloc(19))), `Path(4,8,${'00'.repeat(19)})`);
  });

  it('stops at the End Entire node and ignores what follows', () => {
    const p = Buffer.concat([node(3, 5, u8(1, 0)), END, node(3, 5, u8(2, 0))]);
    assert.equal(devicePathToText(p), 'USB(0x1,0x0)');
  });

  it('an empty path is the empty text, and an End-only path too', () => {
    assert.equal(devicePathToText(Buffer.alloc(0)), '');
    assert.equal(devicePathToText(END), '');
  });

  it('drops an empty instance after an End Instance node at the end', () => {
    const p = Buffer.concat([node(3, 5, u8(1, 0)), node(0x7f, 0x01), END]);
    assert.equal(devicePathToText(p), 'USB(0x1,0x0)');
  });

  it('joins nodes with / and instances with ,', () => {
    const p = Buffer.concat([node(3, 5, u8(1, 0)), node(3, 5, u8(2, 0)), node(0x7f, 0x01), node(3, 2, u16(0), u16(1)), END]);
    assert.equal(devicePathToText(p), 'USB(0x1,0x0)/USB(0x2,0x0),Scsi(0x0,0x1)');
  });
});
