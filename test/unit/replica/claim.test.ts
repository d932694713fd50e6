/**
 * replica/claim: the create-only claim from plain PUT and LIST. At most one of two racing
 * claimants wins; when both see each other, both lose; losers leave their entries.
 */
import { strict as assert } from 'node:assert';
import { claimByListing, groupClaims, type ListingPrimitives } from '../../../src/replica/claim';

/** Objects in a Map, listings sorted by key as S3 returns them. */
class Bucket implements ListingPrimitives {
  readonly objects = new Map<string, Buffer>();
  async putObject(key: string, body: Buffer): Promise<void> {
    this.objects.set(key, body);
  }
  async listKeys(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** A latch: `wait()` resolves once `open()` has been called. */
function latch(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { wait: () => p, open };
}

describe('replica/claim', () => {
  it('a lone claimant wins, writing <claim>/<owner>.<nonce> with its name as the body', async () => {
    const b = new Bucket();
    assert.equal(await claimByListing(b, 'pfx/u1/claims/7', 'host-a'), true);
    const keys = [...b.objects.keys()];
    assert.equal(keys.length, 1);
    assert.match(keys[0], /^pfx\/u1\/claims\/7\/host-a\.[0-9a-f]{12}$/);
    assert.equal(b.objects.get(keys[0])?.toString(), 'host-a');
  });

  it('a claim someone already holds is lost, and the loser leaves its entry', async () => {
    const b = new Bucket();
    await claimByListing(b, 'c/1', 'host-a');
    assert.equal(await claimByListing(b, 'c/1', 'host-b'), false);
    assert.equal((await b.listKeys('c/1/')).length, 2);
    assert.equal(await claimByListing(b, 'c/1', 'host-a'), false, 'not even the first owner wins it again');
  });

  it('two claimants whose listings each see the other both lose', async () => {
    const b = new Bucket();
    const aWrote = latch();
    const bWrote = latch();
    const ra = claimByListing(b, 'c/2', 'host-a', async () => {
      aWrote.open();
      await bWrote.wait();
    });
    const rb = claimByListing(b, 'c/2', 'host-b', async () => {
      bWrote.open();
      await aWrote.wait();
    });
    assert.deepEqual(await Promise.all([ra, rb]), [false, false]);
  });

  it('of two interleaved claimants at most one wins, however they interleave', async () => {
    for (let round = 0; round < 20; round++) {
      const b = new Bucket();
      const jitter = () => new Promise<void>((r) => setTimeout(r, Math.floor(Math.random() * 3)));
      const results = await Promise.all(['h1', 'h2', 'h3'].map((h) => claimByListing(b, 'c/x', h, jitter)));
      assert.ok(results.filter(Boolean).length <= 1, `round ${round}: ${results.join(', ')}`);
    }
  });

  it('an entry under a longer claim key with the same stem does not count against the claim', async () => {
    const b = new Bucket();
    await b.putObject('c/1/host-z.abc', Buffer.from('host-z'));
    assert.equal(await claimByListing(b, 'c/10', 'host-a'), true, "'c/10/' does not list 'c/1/'");
  });

  const refused: Array<[string, string, string]> = [
    ['a claim key with ..', 'c/../x', 'host-a'],
    ['an absolute claim key', '/c/1', 'host-a'],
    ['an owner with a slash', 'c/1', 'host/a'],
    ['an empty owner', 'c/1', ''],
  ];
  for (const [title, key, owner] of refused) {
    it(`refuses ${title} before writing anything`, async () => {
      const b = new Bucket();
      await assert.rejects(claimByListing(b, key, owner), /invalid/);
      assert.equal(b.objects.size, 0);
    });
  }

  it('groupClaims groups entries by claim key, sorted, and names each claimant', () => {
    assert.deepEqual(groupClaims(['p/c/2/host-b.0a0b', 'p/c/1/host-a.1234', 'p/c/2/host.with.dots.ffff', 'p/c/1/host-c.99']), [
      { key: 'p/c/1', owners: ['host-a', 'host-c'] },
      { key: 'p/c/2', owners: ['host-b', 'host.with.dots'] },
    ]);
  });

  it('groupClaims skips keys that are not <claim>/<owner>.<nonce>', () => {
    assert.deepEqual(groupClaims(['toplevel.abc', 'p/c/1/nodot', 'p/c/1/.hidden', '/x.y']), []);
  });
});
