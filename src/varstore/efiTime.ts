/**
 * @module varstore/efiTime
 * EFI_TIME (UEFI 2.10 §8.3, 16 bytes): Year u16, Month, Day, Hour, Minute, Second, Pad1 (u8),
 * Nanosecond u32, TimeZone i16 (minutes from UTC, 0x07FF = unspecified), Daylight u8, Pad2 u8.
 * Time-based authenticated variables (PK, KEK, db, dbx) carry the time of their last
 * authenticated write here; other variables carry zeros.
 */

export const EFI_TIME_SIZE = 16;
export const EFI_UNSPECIFIED_TIMEZONE = 0x07ff;

export interface EfiTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanosecond: number;
  time_zone: number;
  daylight: number;
}

/** 16 zero bytes. */
export function zeroTime(): Buffer {
  return Buffer.alloc(EFI_TIME_SIZE);
}

export function isZeroTime(t: Buffer | undefined): boolean {
  if (!t) return true;
  for (const b of t) if (b !== 0) return false;
  return true;
}

/** Decode a 16-byte EFI_TIME (no calendar validation). */
export function decodeEfiTime(t: Buffer): EfiTime {
  return {
    year: t.readUInt16LE(0),
    month: t[2],
    day: t[3],
    hour: t[4],
    minute: t[5],
    second: t[6],
    nanosecond: t.readUInt32LE(8),
    time_zone: t.readInt16LE(12),
    daylight: t[14],
  };
}

/**
 * `2024-11-05T12:34:56Z`-style text; zero time → undefined. `Z` only for TimeZone 0 (what
 * authenticated writes use); other zones are appended as minutes because the sign convention
 * of TimeZone changed between UEFI revisions.
 */
export function formatEfiTime(t: Buffer): string | undefined {
  if (isZeroTime(t)) return undefined;
  const d = decodeEfiTime(t);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const s = `${String(d.year).padStart(4, '0')}-${p2(d.month)}-${p2(d.day)}T${p2(d.hour)}:${p2(d.minute)}:${p2(d.second)}`;
  if (d.time_zone === EFI_UNSPECIFIED_TIMEZONE) return s;
  return d.time_zone === 0 ? `${s}Z` : `${s} (TimeZone ${d.time_zone} min)`;
}

/**
 * The EFI_TIME of an authenticated write at `d` (UTC, whole seconds). UEFI 2.10 §8.2.2
 * (EFI_VARIABLE_AUTHENTICATION_2): Pad1, Nanosecond, TimeZone, Daylight and Pad2 are 0; edk2
 * VerifyTimeBasedPayload refuses a descriptor otherwise.
 */
export function efiTimeFromDate(d: Date): Buffer {
  const t = Buffer.alloc(EFI_TIME_SIZE);
  t.writeUInt16LE(d.getUTCFullYear(), 0);
  t[2] = d.getUTCMonth() + 1;
  t[3] = d.getUTCDate();
  t[4] = d.getUTCHours();
  t[5] = d.getUTCMinutes();
  t[6] = d.getUTCSeconds();
  return t;
}

/** Order of two EFI_TIMEs by Year, Month, Day, Hour, Minute, Second, Nanosecond (edk2 AuthServiceInternalCompareTimeStamp). */
export function compareEfiTime(a: Buffer, b: Buffer): number {
  const key = (t: Buffer) => [t.readUInt16LE(0), t[2], t[3], t[4], t[5], t[6], t.readUInt32LE(8)];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return 0;
}
