/**
 * @module varstore/devicePath
 * EFI_DEVICE_PATH_PROTOCOL (UEFI 2.10 §10.3) → text in the style of edk2's DevicePathToText
 * (`PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)`, `Fv(GUID)/FvFile(GUID)`,
 * `MAC(525400123456,0x1)`, `Uri(http://...)`, `HD(1,GPT,GUID,0x800,0x100000)`), hex digits
 * and GUIDs in upper case like edk2's PrintLib. Differences from edk2: a file path node prints
 * as `File(\EFI\BOOT\BOOTX64.EFI)` rather than the bare path, and every node we do not render
 * (or one too short for its type) prints as `Path(type,subtype,hexdata)`.
 *
 * Never throws: a node whose length is below 4 or past the buffer ends the text with
 * `Malformed(hex of the rest)`. Instances are separated by `,` (End Instance node).
 */
import { EFI_PC_ANSI, EFI_UART_DEVICE_PATH, EFI_VT100, EFI_VT100_PLUS, EFI_VT_UTF8, guidFromBytes } from './guids';

const HARDWARE = 0x01;
const ACPI = 0x02;
const MESSAGING = 0x03;
const MEDIA = 0x04;
const BBS = 0x05;
const END = 0x7f;
const END_ENTIRE = 0xff;
const END_INSTANCE = 0x01;

const h = (n: number | bigint): string => `0x${n.toString(16).toUpperCase()}`;
const G = (b: Buffer, off: number): string => guidFromBytes(b, off).toUpperCase();
const hexBytes = (b: Buffer): string => b.toString('hex').toUpperCase();
const u8 = (n: Buffer, o: number) => n[o];
const u16 = (n: Buffer, o: number) => n.readUInt16LE(o);
const u32 = (n: Buffer, o: number) => n.readUInt32LE(o);
const u64 = (n: Buffer, o: number) => n.readBigUInt64LE(o);
const ipv4 = (n: Buffer, o: number) => Array.from(n.subarray(o, o + 4)).join('.');
function ipv6(n: Buffer, o: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(n.readUInt16BE(o + i).toString(16));
  return parts.join(':');
}
const proto = (p: number) => (p === 6 ? 'TCP' : p === 17 ? 'UDP' : h(p));

function vendor(kind: string, n: Buffer): string {
  const data = n.subarray(20);
  return `Ven${kind}(${G(n, 4)}${data.length ? `,${hexBytes(data)}` : ''})`;
}

function messagingVendor(n: Buffer): string {
  const g = guidFromBytes(n, 4);
  if (g === EFI_PC_ANSI) return 'VenPcAnsi()';
  if (g === EFI_VT100) return 'VenVt100()';
  if (g === EFI_VT100_PLUS) return 'VenVt100Plus()';
  if (g === EFI_VT_UTF8) return 'VenUtf8()';
  if (g === EFI_UART_DEVICE_PATH && n.length >= 24) {
    const flow = ['None', 'Hardware', 'XonXoff'][u32(n, 20) & 3];
    if (flow) return `UartFlowCtrl(${flow})`;
  }
  return vendor('Msg', n);
}

function acpi(n: Buffer): string {
  const hid = u32(n, 4);
  const uid = u32(n, 8);
  if ((hid & 0xffff) === 0x41d0) {
    const num = hid >>> 16;
    const named: Record<number, string> = {
      0x0a03: 'PciRoot',
      0x0a08: 'PcieRoot',
      0x0604: 'Floppy',
      0x0301: 'Keyboard',
      0x0501: 'Serial',
      0x0401: 'ParallelPort',
    };
    if (named[num]) return `${named[num]}(${h(uid)})`;
    return `Acpi(PNP${num.toString(16).toUpperCase().padStart(4, '0')},${h(uid)})`;
  }
  return `Acpi(0x${hid.toString(16).toUpperCase().padStart(8, '0')},${h(uid)})`;
}

function uart(n: Buffer): string {
  const baud = u64(n, 8);
  const bits = u8(n, 16);
  const parity = 'DNEOMS'[u8(n, 17)] ?? h(u8(n, 17));
  const stop = ['D', '1', '1.5', '2'][u8(n, 18)] ?? h(u8(n, 18));
  return `Uart(${baud === 0n ? 'DEFAULT' : baud.toString()},${bits === 0 ? 'DEFAULT' : bits},${parity},${stop})`;
}

function hardDrive(n: Buffer): string {
  const part = u32(n, 4);
  const start = u64(n, 8);
  const size = u64(n, 16);
  const sigType = u8(n, 41);
  let sig: string;
  if (sigType === 1) sig = `MBR,0x${u32(n, 24).toString(16).toUpperCase().padStart(8, '0')}`;
  else if (sigType === 2) sig = `GPT,${G(n, 24)}`;
  else sig = `${sigType},0`;
  return `HD(${part},${sig},${h(start)},${h(size)})`;
}

function utf16z(n: Buffer, off: number): string {
  let end = off;
  while (end + 1 < n.length && u16(n, end) !== 0) end += 2;
  return n.toString('utf16le', off, end);
}

function ascii(n: Buffer, off: number): string {
  let end = off;
  while (end < n.length && n[end] !== 0) end++;
  return n.toString('latin1', off, end);
}

type NodeRenderer = { min: number; text: (n: Buffer) => string };

/** Renderers keyed by `type << 8 | subtype`, with the minimum node length each needs. */
const NODES: ReadonlyMap<number, NodeRenderer> = new Map<number, NodeRenderer>([
  [(HARDWARE << 8) | 1, { min: 6, text: (n) => `Pci(${h(u8(n, 5))},${h(u8(n, 4))})` }],
  [(HARDWARE << 8) | 2, { min: 5, text: (n) => `PcCard(${h(u8(n, 4))})` }],
  [(HARDWARE << 8) | 3, { min: 24, text: (n) => `MemoryMapped(${h(u32(n, 4))},${h(u64(n, 8))},${h(u64(n, 16))})` }],
  [(HARDWARE << 8) | 4, { min: 20, text: (n) => vendor('Hw', n) }],
  [(HARDWARE << 8) | 5, { min: 8, text: (n) => `Ctrl(${h(u32(n, 4))})` }],
  [(HARDWARE << 8) | 6, { min: 13, text: (n) => `BMC(${h(u8(n, 4))},${h(u64(n, 5))})` }],
  [(ACPI << 8) | 1, { min: 12, text: acpi }],
  [(ACPI << 8) | 3, { min: 8, text: (n) => `AcpiAdr(${Array.from({ length: Math.floor((n.length - 4) / 4) }, (_, i) => h(u32(n, 4 + i * 4))).join(',')})` }],
  [(MESSAGING << 8) | 1, { min: 8, text: (n) => `Ata(${u8(n, 4) ? 'Secondary' : 'Primary'},${u8(n, 5) ? 'Slave' : 'Master'},${h(u16(n, 6))})` }],
  [(MESSAGING << 8) | 2, { min: 8, text: (n) => `Scsi(${h(u16(n, 4))},${h(u16(n, 6))})` }],
  [(MESSAGING << 8) | 5, { min: 6, text: (n) => `USB(${h(u8(n, 4))},${h(u8(n, 5))})` }],
  [(MESSAGING << 8) | 10, { min: 20, text: messagingVendor }],
  [(MESSAGING << 8) | 15, { min: 11, text: (n) => `UsbClass(${h(u16(n, 4))},${h(u16(n, 6))},${h(u8(n, 8))},${h(u8(n, 9))},${h(u8(n, 10))})` }],
  [
    (MESSAGING << 8) | 11,
    {
      min: 37,
      text: (n) => {
        const ifType = u8(n, 36);
        const len = ifType === 0 || ifType === 1 ? 6 : 32;
        return `MAC(${hexBytes(n.subarray(4, 4 + len))},${h(ifType)})`;
      },
    },
  ],
  [
    (MESSAGING << 8) | 12,
    {
      min: 19,
      text: (n) => {
        let s = `IPv4(${ipv4(n, 8)},${proto(u16(n, 16))},${u8(n, 18) ? 'Static' : 'DHCP'},${ipv4(n, 4)}`;
        if (n.length >= 27) s += `,${ipv4(n, 19)},${ipv4(n, 23)}`;
        return `${s})`;
      },
    },
  ],
  [
    (MESSAGING << 8) | 13,
    {
      min: 43,
      text: (n) => {
        const origin = ['Static', 'StatelessAutoConfigure', 'StatefulAutoConfigure'][u8(n, 42)] ?? h(u8(n, 42));
        let s = `IPv6(${ipv6(n, 20)},${proto(u16(n, 40))},${origin},${ipv6(n, 4)}`;
        if (n.length >= 60) s += `,${h(u8(n, 43))},${ipv6(n, 44)}`;
        return `${s})`;
      },
    },
  ],
  [(MESSAGING << 8) | 14, { min: 19, text: uart }],
  [(MESSAGING << 8) | 18, { min: 10, text: (n) => `Sata(${h(u16(n, 4))},${h(u16(n, 6))},${h(u16(n, 8))})` }],
  [
    (MESSAGING << 8) | 23,
    {
      min: 16,
      text: (n) =>
        `NVMe(${h(u32(n, 4))},${Array.from(n.subarray(8, 16))
          .reverse()
          .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
          .join('-')})`,
    },
  ],
  [(MESSAGING << 8) | 24, { min: 4, text: (n) => `Uri(${n.toString('latin1', 4)})` }],
  [(MEDIA << 8) | 1, { min: 42, text: hardDrive }],
  [(MEDIA << 8) | 2, { min: 24, text: (n) => `CDROM(${h(u32(n, 4))},${h(u64(n, 8))},${h(u64(n, 16))})` }],
  [(MEDIA << 8) | 3, { min: 20, text: (n) => vendor('Media', n) }],
  [(MEDIA << 8) | 4, { min: 4, text: (n) => `File(${utf16z(n, 4)})` }],
  [(MEDIA << 8) | 5, { min: 20, text: (n) => `Media(${G(n, 4)})` }],
  [(MEDIA << 8) | 6, { min: 20, text: (n) => `FvFile(${G(n, 4)})` }],
  [(MEDIA << 8) | 7, { min: 20, text: (n) => `Fv(${G(n, 4)})` }],
  [(MEDIA << 8) | 8, { min: 24, text: (n) => `Offset(${h(u64(n, 8))},${h(u64(n, 16))})` }],
  [(BBS << 8) | 1, { min: 8, text: (n) => `BBS(${h(u16(n, 4))},${ascii(n, 8)},${h(u16(n, 6))})` }],
]);

/** Text of one node (header included in `node`). */
export function deviceNodeToText(node: Buffer): string {
  const r = NODES.get((node[0] << 8) | node[1]);
  if (r && node.length >= r.min) return r.text(node);
  return `Path(${node[0]},${node[1]},${hexBytes(node.subarray(4))})`;
}

/** Text of a whole (possibly multi-instance) device path. Never throws. */
export function devicePathToText(buf: Buffer): string {
  const instances: string[][] = [[]];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) {
      instances[instances.length - 1].push(`Malformed(${hexBytes(buf.subarray(pos))})`);
      break;
    }
    const len = u16(buf, pos + 2);
    if (len < 4 || pos + len > buf.length) {
      instances[instances.length - 1].push(`Malformed(${hexBytes(buf.subarray(pos))})`);
      break;
    }
    const node = buf.subarray(pos, pos + len);
    pos += len;
    if (node[0] === END && node[1] === END_ENTIRE) break;
    if (node[0] === END && node[1] === END_INSTANCE) {
      instances.push([]);
      continue;
    }
    instances[instances.length - 1].push(deviceNodeToText(node));
  }
  return instances
    .filter((nodes, i) => nodes.length > 0 || i === 0)
    .map((nodes) => nodes.join('/'))
    .join(',');
}
