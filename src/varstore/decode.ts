/**
 * @module varstore/decode
 * Turn well-known variables into JSON-friendly objects (snake_case keys, numbers and strings
 * only) for `nvram show` and the HTTP API. Table-driven: each entry matches a GUID and a name
 * (or name pattern) and names its decoder.
 *
 * `decodeVariable` returns undefined for variables it does not know, and `{ kind, error }`
 * when it knows the variable but its data is malformed; it never throws.
 */
import { devicePathToText } from './devicePath';
import { bootOptionName } from './edit';
import {
  EDKII_VAR_ERROR_FLAG,
  EFI_CUSTOM_MODE_ENABLE,
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  EFI_SECURE_BOOT_ENABLE_DISABLE,
  EFI_VENDOR_KEYS_NV,
  MTC_VENDOR,
  SHIM_LOCK,
} from './guids';
import { DecodeError, decodeLoadOption, type LoadOption } from './loadOption';
import { parseSignatureLists, summariseSignatureLists, type SignatureDbSummary } from './signatureList';
import type { Variable } from './types';

export type DecodedVariable =
  | { kind: 'boot-order'; order: number[]; entries: string[] }
  | ({ kind: 'load-option' } & LoadOption)
  | { kind: 'boot-option-number'; value: number; entry: string }
  | { kind: 'u8' | 'u16' | 'u32'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'string'; value: string }
  | { kind: 'device-path'; device_path: string }
  | ({ kind: 'signature-database' } & SignatureDbSummary)
  | { kind: string; error: string };

type Decoder = (data: Buffer) => DecodedVariable;

function needSize(data: Buffer, n: number, what: string): void {
  if (data.length !== n) throw new DecodeError(`${what} must be ${n} byte(s), found ${data.length}`);
}

export function decodeBootOrder(data: Buffer): number[] {
  if (data.length % 2 !== 0) throw new DecodeError(`an option list must have an even size, found ${data.length}`);
  const out: number[] = [];
  for (let i = 0; i < data.length; i += 2) out.push(data.readUInt16LE(i));
  return out;
}

const order: Decoder = (d) => {
  const o = decodeBootOrder(d);
  return { kind: 'boot-order', order: o, entries: o.map(bootOptionName) };
};
const loadOption: Decoder = (d) => ({ kind: 'load-option', ...decodeLoadOption(d) });
const bootNumber: Decoder = (d) => {
  needSize(d, 2, 'a boot option number');
  const value = d.readUInt16LE(0);
  return { kind: 'boot-option-number', value, entry: bootOptionName(value) };
};
const u8: Decoder = (d) => (needSize(d, 1, 'a u8'), { kind: 'u8', value: d[0] });
const u16: Decoder = (d) => (needSize(d, 2, 'a u16'), { kind: 'u16', value: d.readUInt16LE(0) });
const u32: Decoder = (d) => (needSize(d, 4, 'a u32'), { kind: 'u32', value: d.readUInt32LE(0) });
const bool: Decoder = (d) => (needSize(d, 1, 'a boolean'), { kind: 'boolean', value: d[0] !== 0 });
const asciiz: Decoder = (d) => {
  const end = d.indexOf(0);
  return { kind: 'string', value: d.toString('latin1', 0, end < 0 ? d.length : end) };
};
const devicePath: Decoder = (d) => ({ kind: 'device-path', device_path: devicePathToText(d) });
const sigDb: Decoder = (d) => ({ kind: 'signature-database', ...summariseSignatureLists(parseSignatureLists(d)) });

/** [guid, name or pattern, decoder]: first match wins. */
const DECODERS: ReadonlyArray<readonly [string, string | RegExp, Decoder]> = [
  [EFI_GLOBAL_VARIABLE, /^(Boot|Driver|SysPrep)Order$/, order],
  [EFI_GLOBAL_VARIABLE, /^(Boot|Driver|SysPrep|PlatformRecovery)[0-9A-F]{4}$/, loadOption],
  [EFI_GLOBAL_VARIABLE, /^Boot(Current|Next)$/, bootNumber],
  [EFI_GLOBAL_VARIABLE, 'Timeout', u16],
  [EFI_GLOBAL_VARIABLE, /^(Platform)?Langs?$/, asciiz],
  [EFI_GLOBAL_VARIABLE, /^(ConIn|ConOut|ErrOut)(Dev)?$/, devicePath],
  [EFI_GLOBAL_VARIABLE, /^(PK|KEK)(Default)?$/, sigDb],
  [EFI_GLOBAL_VARIABLE, /^(SecureBoot|SetupMode|AuditMode|DeployedMode)$/, u8],
  [EFI_IMAGE_SECURITY_DATABASE, /^db[xtr]?$/, sigDb],
  [EFI_SECURE_BOOT_ENABLE_DISABLE, 'SecureBootEnable', u8],
  [EFI_CUSTOM_MODE_ENABLE, 'CustomMode', bool],
  [EFI_VENDOR_KEYS_NV, 'VendorKeysNv', u8],
  [MTC_VENDOR, 'MTC', u32],
  [EDKII_VAR_ERROR_FLAG, 'VarErrorFlag', u8],
  [SHIM_LOCK, /^Mok(List|ListX)$/, sigDb],
];

function decoderFor(v: { name: string; guid: string }): Decoder | undefined {
  const guid = v.guid.toLowerCase();
  for (const [g, n, d] of DECODERS) {
    if (g === guid && (typeof n === 'string' ? n === v.name : n.test(v.name))) return d;
  }
  return undefined;
}

/** Decoded form of a well-known variable; undefined when unknown; `{kind, error}` when malformed. */
export function decodeVariable(v: Pick<Variable, 'name' | 'guid' | 'data'>): DecodedVariable | undefined {
  const d = decoderFor(v);
  if (!d) return undefined;
  try {
    return d(v.data);
  } catch (e) {
    return { kind: 'malformed', error: e instanceof Error ? e.message : String(e) };
  }
}
