/**
 * @module replica/claim
 * Create-only claims on a store that has no conditional PUT (Swift's s3api answers
 * `If-None-Match: *` with 501; replica-store.md), from plain PUT and LIST:
 *
 *  1. write `<claim>/<owner>.<nonce>` — a key nobody else writes, so nothing is overwritten;
 *  2. list `<claim>/`; the claim is won only if the listing holds this entry alone.
 *
 * At most one claimant wins: if X and Y both saw themselves alone, X's listing ended before
 * Y's write completed (else X would have seen Y) and Y's listing ended before X's write
 * completed, but each listing starts after its own write completed: X-write < X-list <
 * Y-write < Y-list < X-write, a contradiction. This holds wherever a listing shows every
 * write that completed before it started (S3's strong read-after-write consistency; Swift
 * with its container updates done in the write, as on one proxy). Both may lose (each sees
 * the other): then nobody holds the claim and the caller tries the next one. An entry is
 * never removed by a loser, so a later listing still shows the contention.
 */
import { randomBytes } from 'node:crypto';
import { checkKey, checkOwner, type ClaimEntry } from './types';

export interface ListingPrimitives {
  putObject(key: string, body: Buffer): Promise<void>;
  listKeys(prefix: string): Promise<string[]>;
}

/** Steps 1 and 2 above; `pause` runs between them (tests interleave two claimants there). */
export async function claimByListing(p: ListingPrimitives, claimKey: string, owner: string, pause?: () => Promise<void>): Promise<boolean> {
  checkKey(claimKey);
  const mine = `${claimKey}/${checkOwner(owner)}.${randomBytes(6).toString('hex')}`;
  await p.putObject(mine, Buffer.from(owner));
  if (pause) await pause();
  const entries = await p.listKeys(`${claimKey}/`);
  return entries.length === 1 && entries[0] === mine;
}

/** Group the entry keys under `prefix` into claims: `<claim>/<owner>.<nonce>`. */
export function groupClaims(entryKeys: readonly string[]): ClaimEntry[] {
  const by = new Map<string, string[]>();
  for (const k of entryKeys) {
    const slash = k.lastIndexOf('/');
    const last = k.slice(slash + 1);
    const dot = last.lastIndexOf('.');
    if (slash <= 0 || dot <= 0) continue;
    const claim = k.slice(0, slash);
    (by.get(claim) ?? by.set(claim, []).get(claim)!).push(last.slice(0, dot));
  }
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, owners]) => ({ key, owners }));
}
