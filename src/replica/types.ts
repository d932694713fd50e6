/**
 * @module replica/types
 * `ReplicaStore`: what the replica log needs from a place that keeps objects off this host.
 * Objects are opaque (already encrypted by `replica/format`); keys are relative paths of
 * segments `[A-Za-z0-9._-]` joined by `/`. Implementations: `s3` (any S3 service, through
 * @aws-sdk/client-s3) and `directory` (a shared filesystem); tests add an in-memory one.
 *
 * The one primitive beyond put/get/list/delete is `claim`: create-only, at most one caller
 * wins a claim key however many race for it, on any host. A directory gets it from the
 * filesystem (link(2) fails with EEXIST); S3 services without conditional PUT (Swift's s3api
 * answers `If-None-Match: *` with 501) get it from `claimByListing` (replica/claim).
 * Failures to reach the store throw `ReplicaUnavailable`.
 */

/** The claimants found under one claim key. One means it was won; several that nobody won it. */
export interface ClaimEntry {
  key: string;
  owners: string[];
}

/** What `probe` found: whether the bucket or directory exists yet, and what it said. */
export interface ProbeResult {
  exists: boolean;
  detail: string;
}

export interface ReplicaStore {
  readonly kind: 's3' | 'directory' | 'memory';
  /** Where it is (endpoint and bucket, or a path), for logs and answers. */
  describe(): string;
  /** Make it usable (create the bucket or directory when missing); throws `ReplicaUnavailable`. */
  init(): Promise<void>;
  /**
   * Ask whether it answers, changing nothing (`doctor`): one cheap authenticated request, or a
   * write probe removed at once. `exists: false` when the bucket or directory is missing (`init`
   * creates it); throws `ReplicaUnavailable` when it does not answer or refuses.
   */
  probe(prefix: string): Promise<ProbeResult>;
  /** Write an object whole (replacing one of the same key). Durable when it resolves. */
  put(key: string, body: Buffer): Promise<void>;
  /** An object's bytes, or null when there is none. */
  get(key: string): Promise<Buffer | null>;
  /** Keys of every object under `prefix`, sorted (callers keep claims under a prefix of their own). */
  list(prefix: string): Promise<string[]>;
  /** Remove an object; a missing one is fine. */
  delete(key: string): Promise<void>;
  /** Create claim `key` for `owner` unless it exists; true when this call won it. */
  claim(key: string, owner: string): Promise<boolean>;
  /** Every claim under `prefix` with its claimants, sorted by key. */
  claims(prefix: string): Promise<ClaimEntry[]>;
  /** Remove a claim (all its claimants). */
  dropClaim(key: string): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Throws unless `key` is relative segments of safe characters, none of them `.` or `..`. */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (!key || key.length > 900 || parts.some((p) => !SEGMENT.test(p) || p === '.' || p === '..')) throw new Error(`invalid replica object key '${key}'`);
  return key;
}

/** An owner name (a host name) as claims carry it. */
export function checkOwner(owner: string): string {
  if (!SEGMENT.test(owner) || owner.length > 255) throw new Error(`invalid claim owner '${owner}'`);
  return owner;
}
