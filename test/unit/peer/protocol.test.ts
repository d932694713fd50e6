import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { loadOpenApi } from '../../../src/util/openapiDoc';
import { PEER_OPERATIONS, PEER_PATHS, PEER_PREFIX, PeerApi, checkAnswer, peerPath, peerRoute } from '../../../src/peer/protocol';
import { encodeNvram } from '../../../src/peer/transfer';
import type { Peer } from '../../../src/peer/client';

type Call = { host: string; method: string; path: string; body?: unknown };

/** A transport that records each call and answers what the test gives it. */
function transport(answer: (c: Call) => unknown): { peer: Pick<Peer, 'call'>; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    peer: {
      call: <T>(host: string, method: string, path: string, body?: unknown): Promise<T> => {
        const c = { host, method, path, body };
        calls.push(c);
        return Promise.resolve(answer(c) as T);
      },
    },
  };
}

const record = (uuid: string) => ({ uuid, name: 'instance-0000002a', vmState: 'active', firmware: null, nvramPath: null });

describe('peer/protocol', () => {
  it('names exactly the paths and operations the OpenAPI document lists under the peer tag', () => {
    const doc = loadOpenApi() as unknown as { paths: Record<string, Record<string, { operationId?: string; tags?: string[] }>> };
    const documented = new Map<string, string>();
    for (const [p, item] of Object.entries(doc.paths))
      for (const op of Object.values(item)) if (op?.tags?.includes('peer')) documented.set(p, String(op.operationId));
    const ours = new Map(Object.entries(PEER_PATHS).map(([k, p]) => [p as string, PEER_OPERATIONS[k as keyof typeof PEER_PATHS] as string]));
    assert.deepEqual([...ours.entries()].sort(), [...documented.entries()].sort());
    for (const p of Object.keys(doc.paths)) assert.equal(p.startsWith(PEER_PREFIX), documented.has(p), `${p}: under ${PEER_PREFIX} exactly when tagged peer`);
  });

  it('turns a documented path into its express route and a concrete path', () => {
    assert.equal(peerRoute(PEER_PATHS.stageNvram), '/v1/peer/instances/:uuid/nvram');
    const u = randomUUID();
    assert.equal(peerPath(PEER_PATHS.instanceState, u, { nvram: '1' }), `/v1/peer/instances/${u}/state?nvram=1`);
    assert.equal(peerPath(PEER_PATHS.nvramDigest, u, { name: 'a b&c' }), `/v1/peer/instances/${u}/nvram_digest?name=a+b%26c`);
    assert.equal(peerPath(PEER_PATHS.ping), '/v1/peer/ping');
  });

  it('makes one call per method, to its path with its method, and returns an answer that fits', async () => {
    const u = randomUUID();
    const nvram = encodeNvram(Buffer.alloc(4096, 0xff));
    const { peer, calls } = transport((c) => {
      if (c.path.endsWith('/state?nvram=1&runs=1')) return { record: record(u), domain_xml: '<domain/>', power_state: 1, nvram_size: 4096, nvram };
      if (c.path.includes('/nvram_digest')) return { sha256: nvram.sha256, size: 4096 };
      if (c.path.endsWith('/nvram')) return { staged: true, size: 4096, sha256: nvram.sha256 };
      if (c.path.endsWith('/rollback_live_migration_at_destination')) return {};
      if (c.path === PEER_PATHS.arrive) return { arrived: true };
      return { host: 'compute2', time: 1_700_000_000 };
    });
    const api = new PeerApi(peer);
    assert.equal((await api.instanceState('compute1', u, true)).nvram?.sha256, nvram.sha256);
    assert.equal((await api.nvramDigest('compute2', u, 'instance-0000002a')).size, 4096);
    const body = { kind: 'cold' as const, key: 'k', name: 'instance-0000002a', source_host: 'compute1', firmware: null, nvram };
    assert.equal((await api.stageNvram('compute2', u, body)).staged, true);
    assert.deepEqual(await api.rollbackLiveMigrationAtDestination('compute2', u), {});
    assert.deepEqual(await api.arrive('compute2', { domain_xml: '<domain/>', nvram: null }), { arrived: true });
    assert.equal((await api.ping('compute2')).host, 'compute2');
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.path}`),
      [
        `GET /v1/peer/instances/${u}/state?nvram=1&runs=1`,
        `GET /v1/peer/instances/${u}/nvram_digest?name=instance-0000002a`,
        `PUT /v1/peer/instances/${u}/nvram`,
        `POST /v1/peer/instances/${u}/rollback_live_migration_at_destination`,
        'POST /v1/peer/arrive',
        'GET /v1/peer/ping',
      ],
    );
    assert.deepEqual(calls[2].body, body);
  });

  const misfits: [string, (api: PeerApi, u: string) => Promise<unknown>, unknown, RegExp][] = [
    [
      'a state without its record',
      (api, u) => api.instanceState('compute1', u, false),
      { domain_xml: null, power_state: 1, nvram_size: null, nvram: null },
      /record/,
    ],
    [
      'a state whose record has an unknown vmState',
      (api, u) => api.instanceState('compute1', u, false),
      { record: { ...record(randomUUID()), vmState: 'migrating' }, domain_xml: null, power_state: 1, nvram_size: null, nvram: null },
      /record\.vmState/,
    ],
    ['a digest that is not hex', (api, u) => api.nvramDigest('compute2', u, 'x'), { sha256: 'zz', size: 1 }, /sha256/],
    ['a stage answer with a negative size', (api, u) => api.stageNvram('compute2', u, {} as never), { staged: true, size: -1, sha256: 'a'.repeat(64) }, /size/],
    ['a rollback answer that is not empty', (api, u) => api.rollbackLiveMigrationAtDestination('compute2', u), { done: 1 }, /PeerEmpty/],
    ['no answer at all', (api) => api.ping('compute2'), undefined, /PeerPing/],
  ];
  for (const [what, call, answer, re] of misfits) {
    it(`refuses ${what} (MigrationError 502 naming the peer and the field)`, async () => {
      const { peer } = transport(() => answer);
      await assert.rejects(
        call(new PeerApi(peer), randomUUID()),
        (e: Error & { type?: string; code?: number }) =>
          e.type === 'MigrationError' && e.code === 502 && /peer compute[12] answered/.test(e.message) && re.test(e.message),
      );
    });
  }

  it('checkAnswer returns the very value that fits', () => {
    const v = { sha256: null, size: null };
    assert.equal(checkAnswer('compute2', 'PeerNvramDigest', v), v);
  });
});
