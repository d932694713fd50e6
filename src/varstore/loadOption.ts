/**
 * @module varstore/loadOption
 * EFI_LOAD_OPTION (UEFI 2.10 §3.1.3), the data of Boot####, Driver####, SysPrep####,
 * PlatformRecovery####: Attributes u32, FilePathListLength u16, Description (NUL-terminated
 * UTF-16), FilePathList, OptionalData (the rest). Decoding only; throws `DecodeError` on
 * malformed data so `decodeVariable` can report it.
 */
import { devicePathToText } from './devicePath';

/** A decoder found data it cannot make sense of (caught by `decodeVariable`). */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export const LOAD_OPTION_ACTIVE = 0x1;
export const LOAD_OPTION_FORCE_RECONNECT = 0x2;
export const LOAD_OPTION_HIDDEN = 0x8;
export const LOAD_OPTION_CATEGORY_MASK = 0x1f00;
export const LOAD_OPTION_CATEGORY_APP = 0x100;

export interface LoadOption {
  attributes: number;
  active: boolean;
  hidden: boolean;
  force_reconnect: boolean;
  /** `boot` (LOAD_OPTION_CATEGORY_BOOT), `app`, or the raw category bits. */
  category: 'boot' | 'app' | number;
  description: string;
  device_path: string;
  /** Hex, only when present. */
  optional_data?: string;
}

export function decodeLoadOption(data: Buffer): LoadOption {
  if (data.length < 8) throw new DecodeError(`load option is ${data.length} bytes, shorter than the 8-byte minimum`);
  const attributes = data.readUInt32LE(0);
  const pathLength = data.readUInt16LE(4);
  let end = 6;
  while (end + 1 < data.length && data.readUInt16LE(end) !== 0) end += 2;
  if (end + 1 >= data.length) throw new DecodeError('load option description is not NUL-terminated');
  const description = data.toString('utf16le', 6, end);
  const pathStart = end + 2;
  if (pathStart + pathLength > data.length) {
    throw new DecodeError(`load option FilePathListLength ${pathLength} runs past the data (${data.length - pathStart} bytes left)`);
  }
  const cat = attributes & LOAD_OPTION_CATEGORY_MASK;
  const out: LoadOption = {
    attributes,
    active: (attributes & LOAD_OPTION_ACTIVE) !== 0,
    hidden: (attributes & LOAD_OPTION_HIDDEN) !== 0,
    force_reconnect: (attributes & LOAD_OPTION_FORCE_RECONNECT) !== 0,
    category: cat === 0 ? 'boot' : cat === LOAD_OPTION_CATEGORY_APP ? 'app' : cat,
    description,
    device_path: devicePathToText(data.subarray(pathStart, pathStart + pathLength)),
  };
  const optional = data.subarray(pathStart + pathLength);
  if (optional.length) out.optional_data = optional.toString('hex');
  return out;
}
