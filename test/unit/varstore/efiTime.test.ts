/**
 * varstore/efiTime: the 16-byte EFI_TIME of authenticated variables (UEFI 2.10 §8.3), built by
 * hand here so the module is not checked against itself.
 */
import { strict as assert } from 'node:assert';
import {
  EFI_TIME_SIZE,
  EFI_UNSPECIFIED_TIMEZONE,
  compareEfiTime,
  decodeEfiTime,
  efiTimeFromDate,
  formatEfiTime,
  isZeroTime,
  zeroTime,
} from '../../../src/varstore/efiTime';

interface T {
  year: number;
  month: number;
  day: number;
  hour?: number;
  minute?: number;
  second?: number;
  ns?: number;
  tz?: number;
  daylight?: number;
}
function efiTime(t: T): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(t.year, 0);
  b[2] = t.month;
  b[3] = t.day;
  b[4] = t.hour ?? 0;
  b[5] = t.minute ?? 0;
  b[6] = t.second ?? 0;
  b.writeUInt32LE(t.ns ?? 0, 8);
  b.writeInt16LE(t.tz ?? 0, 12);
  b[14] = t.daylight ?? 0;
  return b;
}

describe('varstore/efiTime', () => {
  it('zeroTime is 16 zero bytes and counts as zero, as does an absent time', () => {
    assert.equal(EFI_TIME_SIZE, 16);
    assert.deepEqual(zeroTime(), Buffer.alloc(16));
    assert.equal(isZeroTime(zeroTime()), true);
    assert.equal(isZeroTime(undefined), true);
  });

  it('a single non-zero byte anywhere makes the time non-zero', () => {
    for (let i = 0; i < 16; i++) {
      const b = Buffer.alloc(16);
      b[i] = 1;
      assert.equal(isZeroTime(b), false, `byte ${i}`);
    }
  });

  it('decodes every field at its UEFI offset, TimeZone signed', () => {
    const b = efiTime({ year: 2024, month: 11, day: 5, hour: 12, minute: 34, second: 56, ns: 123456789, tz: -60, daylight: 1 });
    assert.deepEqual(decodeEfiTime(b), {
      year: 2024,
      month: 11,
      day: 5,
      hour: 12,
      minute: 34,
      second: 56,
      nanosecond: 123456789,
      time_zone: -60,
      daylight: 1,
    });
  });

  const formats: Array<[string, Buffer, string | undefined]> = [
    ['zero time as undefined', Buffer.alloc(16), undefined],
    ['TimeZone 0 with a Z', efiTime({ year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5 }), '2024-01-02T03:04:05Z'],
    ['an unspecified TimeZone without a zone', efiTime({ year: 2011, month: 10, day: 26, tz: EFI_UNSPECIFIED_TIMEZONE }), '2011-10-26T00:00:00'],
    ['another TimeZone as minutes', efiTime({ year: 2020, month: 6, day: 30, hour: 23, tz: 120 }), '2020-06-30T23:00:00 (TimeZone 120 min)'],
    ['a negative TimeZone as minutes', efiTime({ year: 2020, month: 6, day: 30, tz: -300 }), '2020-06-30T00:00:00 (TimeZone -300 min)'],
    ['a year below 1000 padded to four digits', efiTime({ year: 999, month: 1, day: 1 }), '0999-01-01T00:00:00Z'],
  ];
  for (const [title, b, want] of formats) it(`formats ${title}`, () => assert.equal(formatEfiTime(b), want));

  it('efiTimeFromDate writes the UTC fields and leaves Pad1, Nanosecond, TimeZone, Daylight, Pad2 zero', () => {
    const b = efiTimeFromDate(new Date('2025-03-09T07:08:09.987Z'));
    assert.deepEqual(b, efiTime({ year: 2025, month: 3, day: 9, hour: 7, minute: 8, second: 9 }));
    assert.equal(formatEfiTime(b), '2025-03-09T07:08:09Z');
  });

  it('compareEfiTime orders by year, month, day, hour, minute, second and nanosecond', () => {
    const base: T = { year: 2024, month: 6, day: 15, hour: 12, minute: 30, second: 30, ns: 500 };
    const fields: Array<keyof T> = ['year', 'month', 'day', 'hour', 'minute', 'second', 'ns'];
    for (const f of fields) {
      const later = efiTime({ ...base, [f]: (base[f] as number) + 1 });
      assert.equal(compareEfiTime(efiTime(base), later), -1, f);
      assert.equal(compareEfiTime(later, efiTime(base)), 1, f);
    }
    assert.equal(compareEfiTime(efiTime(base), efiTime(base)), 0);
  });

  it('compareEfiTime lets a more significant field win over less significant ones', () => {
    const a = efiTime({ year: 2024, month: 1, day: 31, hour: 23, minute: 59, second: 59 });
    const b = efiTime({ year: 2024, month: 2, day: 1 });
    assert.equal(compareEfiTime(a, b), -1);
  });

  it('compareEfiTime ignores TimeZone and Daylight, as edk2 does', () => {
    const a = efiTime({ year: 2024, month: 1, day: 1, tz: 60, daylight: 1 });
    const b = efiTime({ year: 2024, month: 1, day: 1 });
    assert.equal(compareEfiTime(a, b), 0);
  });
});
