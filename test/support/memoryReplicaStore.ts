/**
 * An in-memory `ReplicaStore` for unit tests: objects in a Map, claims through the same
 * listing protocol the S3 backend uses (`claimByListing`), and hooks to interleave two
 * claimants between their write and their listing, or to make the store unreachable.
 */
import { claimByListing, groupClaims } from '../../src/replica/claim';
import { checkKey, type ClaimEntry, type ProbeResult, type ReplicaStore } from '../../src/replica/types';
import { ReplicaUnavailable } from '../../src/replica/errors';

export class MemoryReplicaStore implements ReplicaStore {
  readonly kind = 'memory' as const;
  readonly objects = new Map<string, Buffer>();
  /** When set, every call fails as an unreachable store would. */
  down = false;
  /** Runs between a claimant's write and its listing. */
  claimPause?: () => Promise<void>;
  calls = 0;

  describe(): string {
    return 'memory';
  }
  private check(): void {
    this.calls++;
    if (this.down) throw new ReplicaUnavailable('memory store is down (test)');
  }
  async init(): Promise<void> {
    this.check();
  }
  async probe(): Promise<ProbeResult> {
    this.check();
    return { exists: true, detail: 'memory store answers' };
  }
  async put(key: string, body: Buffer): Promise<void> {
    this.check();
    this.objects.set(checkKey(key), Buffer.from(body));
  }
  async get(key: string): Promise<Buffer | null> {
    this.check();
    const b = this.objects.get(checkKey(key));
    return b ? Buffer.from(b) : null;
  }
  async list(prefix: string): Promise<string[]> {
    this.check();
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix) && !k.includes('/claim/')).sort();
  }
  async delete(key: string): Promise<void> {
    this.check();
    this.objects.delete(key);
  }
  async claim(key: string, owner: string): Promise<boolean> {
    this.check();
    return claimByListing(
      {
        putObject: async (k, b) => void this.objects.set(k, b),
        listKeys: async (p) => [...this.objects.keys()].filter((k) => k.startsWith(p)).sort(),
      },
      key,
      owner,
      this.claimPause,
    );
  }
  async claims(prefix: string): Promise<ClaimEntry[]> {
    this.check();
    return groupClaims([...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort());
  }
  async dropClaim(key: string): Promise<void> {
    this.check();
    for (const k of [...this.objects.keys()]) if (k.startsWith(`${key}/`)) this.objects.delete(k);
  }
}
