/**
 * An unauthenticated attack on the peer link of a sidecar process (loopback, bounded): 32
 * parallel requests, gzip bombs (inflating to 1 GiB) and 64 MiB plain bodies, unsigned,
 * signed with a wrong secret, or signed for another host. Every one is answered 401 before
 * its body is read (the sidecar logs a 401 for each, its peer body counter stays 0, and each
 * client that read its answer had most of its body unsent), and the sidecar's resident memory
 * stays under 300 MiB.
 * The latency of /healthz under this attack is measured by bench/peerAttack.ts, not here.
 */
import { strict as assert } from 'node:assert';
import { makeHosts, SECRET, type SidecarProcess } from '../support/processes';
import { peerAttack, rssOf } from '../support/peerAttack';
import { scrape, sample } from '../support/metrics';

const MiB = 1024 * 1024;

describe('peer link under an unauthenticated load', function () {
  this.timeout(120_000);
  let host: SidecarProcess;
  let cleanup: () => Promise<void>;
  before(async () => {
    const made = await makeHosts([{ name: 'compute1' }]);
    cleanup = made.cleanup;
    host = made.hosts[0];
    await host.start();
  });
  after(async () => cleanup?.());

  it('refuses 32 parallel bombs and large bodies with 401 before reading them, under 300 MiB resident', async () => {
    const pid = host.proc!.pid!;
    const before = sample(await scrape(host.http), 'nova_uefi_shim_peer_body_bytes_read_total');
    let peak = rssOf(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
    let outcomes;
    try {
      outcomes = await peerAttack({ port: host.port, count: 32, bombInflatedBytes: 1024 * MiB, plainBytes: 64 * MiB, secret: SECRET });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssOf(pid));
    // The sidecar answered every one 401 (its request log, by path); the client saw the 401,
    // or, still sending when the refused connection was closed, the reset that followed it.
    const answered = new Map<string, number>();
    for (let i = 0; i < 100 && outcomes.some((o) => !answered.has(o.path)); i++) {
      await new Promise((r) => setTimeout(r, 50)); // its log lines reach us through a pipe
      for (const line of host.log.split('\n')) {
        const m = /"msg":"request".*"path":"([^"]+)","status":(\d+)/.exec(line);
        if (m) answered.set(m[1], Number(m[2]));
      }
    }
    assert.deepEqual(
      outcomes.filter((o) => answered.get(o.path) !== 401),
      [],
      'the sidecar answered every request 401',
    );
    assert.deepEqual(
      outcomes.filter((o) => !(o.status === 401 || (o.status === null && o.kind === 'plain' && /^(EPIPE|ECONNRESET)$/.test(o.error ?? '')))),
      [],
      'each client saw its 401 (or the close after it)',
    );
    console.log(`      ${outcomes.filter((o) => o.status === 401).length} of ${outcomes.length} clients read the 401 before the connection closed`);
    assert.equal(sample(await scrape(host.http), 'nova_uefi_shim_peer_body_bytes_read_total') - before, 0, 'no peer body byte was read');
    for (const o of outcomes.filter((x) => x.kind === 'plain' && x.status === 401))
      assert.ok(o.sentBeforeAnswer < o.bodyBytes, `the 401 arrived before the 64 MiB body was sent (${o.sentBeforeAnswer} sent)`);
    assert.ok(peak < 300 * MiB, `resident memory peaked at ${(peak / MiB).toFixed(0)} MiB`);
    console.log(`      peak VmRSS ${(peak / MiB).toFixed(1)} MiB over ${outcomes.length} refused requests`);
    // Still serving.
    assert.equal((await host.http.get('/healthz')).status, 200);
  });
});
