/**
 * @module replica/keys
 * The keys replicas are encrypted with: `[replica] encryption_key_file` (the one new objects
 * use) and `old_key_files` (read only, after a rotation). Each file holds 64 hex characters,
 * as `openssl rand -hex 32` writes them. A key's id is derived from the key (a truncated
 * sha256 under a fixed label), so an object names the key it needs without revealing it and
 * any host holding that key finds it again.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ReplicaKey {
  id: string;
  key: Buffer;
}

export interface Keyring {
  /** The key new objects are written with. */
  current: ReplicaKey;
  /** Every key by id, current included. */
  byId: ReadonlyMap<string, ReplicaKey>;
}

const KEY_RE = /^[0-9a-fA-F]{64}$/;

/** The id of a key: 16 hex characters of sha256("nova-uefi-shim replica key id" || key). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('nova-uefi-shim replica key id\0').update(key).digest('hex').slice(0, 16);
}

/** A key from its text form (64 hex characters, surrounding white space ignored). */
export function parseKey(text: string, where: string): ReplicaKey {
  const t = text.trim();
  if (!KEY_RE.test(t)) throw new Error(`${where}: expected 64 hex characters (openssl rand -hex 32), got ${t.length} characters`);
  const key = Buffer.from(t, 'hex');
  return { id: keyId(key), key };
}

export function makeKeyring(current: ReplicaKey, old: readonly ReplicaKey[] = []): Keyring {
  const byId = new Map<string, ReplicaKey>();
  for (const k of [...old, current]) byId.set(k.id, k);
  return { current, byId };
}

/** Read the configured key files; throws naming the file on any problem. */
export function loadKeyring(currentFile: string, oldFiles: readonly string[]): Keyring {
  const read = (f: string, option: string): ReplicaKey => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new Error(`[replica] ${option} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    return parseKey(text, `[replica] ${option} ${f}`);
  };
  return makeKeyring(
    read(currentFile, 'encryption_key_file'),
    oldFiles.map((f) => read(f, 'old_key_files')),
  );
}
