/**
 * @module varstore/ucs2
 * Variable names: UTF-16LE with a terminating NUL, the size on disk including the NUL
 * (NameSize). Strict decoding for names the library trusts; encoding refuses names that the
 * firmware would refuse (empty, embedded NUL).
 */

/** Encode `name` as UTF-16LE plus the terminating NUL. */
export function encodeName(name: string): Buffer {
  const body = Buffer.from(name, 'utf16le');
  return Buffer.concat([body, Buffer.alloc(2)]);
}

/** Why `name` cannot be a variable name, or undefined when it can. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.includes('\0')) return 'must not contain NUL';
  return undefined;
}

/**
 * Decode a NameSize-byte name at `offset`. Returns the name, or a problem description when the
 * size is odd or too small, or the NUL terminator is missing or early.
 */
export function decodeName(buf: Buffer, offset: number, size: number): { name: string } | { problem: string } {
  if (size < 2) return { problem: `NameSize ${size} is too small for a NUL-terminated name` };
  if (size % 2 !== 0) return { problem: `NameSize ${size} is odd (names are UTF-16)` };
  if (offset < 0 || offset + size > buf.length) return { problem: 'name runs past the end of the store' };
  const end = offset + size - 2;
  if (buf.readUInt16LE(end) !== 0) return { problem: 'name is not NUL-terminated' };
  for (let p = offset; p < end; p += 2) {
    if (buf.readUInt16LE(p) === 0) return { problem: 'name has a NUL before its end' };
  }
  if (end === offset) return { problem: 'name is empty' };
  return { name: buf.toString('utf16le', offset, end) };
}

/** Lenient variant for records that are not live (deleted, half-written): never fails. */
export function decodeNameLenient(buf: Buffer, offset: number, size: number): string {
  const end = Math.min(buf.length, offset + Math.max(0, size - (size % 2)));
  let stop = offset;
  while (stop + 1 < end && buf.readUInt16LE(stop) !== 0) stop += 2;
  return buf.toString('utf16le', offset, stop);
}
