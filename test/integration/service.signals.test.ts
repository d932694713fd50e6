/**
 * The sidecar as a service under its signals, as real processes: SIGTERM stops accepting,
 * lets the calls in flight finish within `[api] shutdown_timeout` and exits; a cold migration
 * cut by that bound is reverted by the next start with nothing lost. SIGHUP re-reads the
 * config file: a changed firmware map is used by new spawns while pinned instances keep
 * theirs and requests keep succeeding; a broken file is refused as a whole.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import axios from 'axios';
import { freePort, makeHosts, SECRET, type SidecarProcess } from '../support/processes';
import { H_DESTINATION, H_NONCE, H_RESPONSE_SIGNATURE, signResponse } from '../../src/peer/signing';
import { call, fileSha, migration, newInstance, nvramPath, spawnWithMarker, storesFor, UEFI, type Inst } from '../support/novaFlows';
import { makeFile, SIZES } from '../support/firmwareFixture';
import { sample, scrape } from '../support/metrics';

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Log lines (JSON) of the current run whose msg is `msg`. */
function logLines(h: SidecarProcess, msg: string): Record<string, unknown>[] {
  return h.log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

function editConf(h: SidecarProcess, edit: (text: string) => string): void {
  fs.writeFileSync(h.confFile, edit(fs.readFileSync(h.confFile, 'utf8')));
}

function journalStatus(h: SidecarProcess, inst: Inst): string | null {
  const f = path.join(h.root, 'state', 'migrations', `${inst.uuid}.source.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as { status: string }).status : null;
}

/**
 * A stand-in destination sidecar on loopback: answers a stage request after `delayMs`
 * (or never, with `null`), as a slow or hung peer would; its answer is signed for the
 * request, as a peer holding the shared secret signs it.
 */
async function fakePeer(delayMs: number | null): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    if (delayMs === null) return;
    setTimeout(() => {
      // The answer a destination gives: the digest and size of the store it staged (the one sent).
      let sent: { nvram?: { sha256?: string; size?: number } } = {};
      try {
        sent = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof sent;
      } catch {
        /* not JSON: answered with the empty store's digest below */
      }
      const sha256 = sent.nvram?.sha256 ?? createHash('sha256').update(Buffer.alloc(0)).digest('hex');
      const body = Buffer.from(JSON.stringify({ staged: true, sha256, size: sent.nvram?.size ?? 0 }));
      const signed = signResponse(SECRET, { nonce: String(req.headers[H_NONCE]), destination: String(req.headers[H_DESTINATION]) }, 200, body);
      res.writeHead(200, { 'content-type': 'application/json', [H_RESPONSE_SIGNATURE]: signed });
      res.end(body);
    }, delayMs);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('SIGTERM: graceful stop', function () {
  this.timeout(120000);
  let A: SidecarProcess;
  let cleanup: () => Promise<void>;
  let slow: Awaited<ReturnType<typeof fakePeer>>;
  let hung: Awaited<ReturnType<typeof fakePeer>>;
  before(async () => {
    const made = await makeHosts([{ name: 'compute1' }]);
    [A] = made.hosts;
    cleanup = made.cleanup;
    [slow, hung] = await Promise.all([fakePeer(1500), fakePeer(null)]);
    editConf(A, (t) => t.replace(/^hosts = (.*)$/m, `hosts = $1,slowpeer=${slow.url},hungpeer=${hung.url}`));
  });
  after(async () => {
    await cleanup();
    await Promise.all([slow.close(), hung.close()]);
  });

  const mdpo = (inst: Inst, dest: string) =>
    A.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest, flavor: inst.flavor }).then(
      (r) => ({ status: r.status, data: r.data as Record<string, unknown> }),
      (e: Error) => ({ status: 0, data: { error: e.message } }),
    );

  it('stops accepting, lets the call in flight finish and answer, then exits 0', async () => {
    editConf(A, (t) => t.replace(/\[api\]\n(shutdown_timeout = \d+\n)?/, '[api]\nshutdown_timeout = 20\n'));
    await A.start();
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const inFlight = mdpo(inst, 'slowpeer');
    await waitFor('the store stashed', () => journalStatus(A, inst) === 'stashed');
    const t0 = Date.now();
    A.proc!.kill('SIGTERM');
    await waitFor('the listener closed', () =>
      axios.get(`${A.url}/healthz`, { timeout: 1000 }).then(
        () => false,
        (e: { code?: string }) => e.code === 'ECONNREFUSED',
      ),
    );
    const answer = await inFlight;
    assert.equal(answer.status, 200, JSON.stringify(answer.data));
    assert.equal(await A.waitExit(), 0);
    assert.ok(Date.now() - t0 < 15000);
    assert.equal(logLines(A, 'stopped')[0]?.drained, true);
    // The destination was told it has the store: the journal waits for Nova (here a revert).
    await A.start();
    await waitFor('recovery done', async () => (await A.http.get('/readyz')).status === 200);
    const ready = await A.http.get('/readyz');
    assert.match(
      ready.data.checks.find((c: { name: string }) => c.name === 'recovery').detail,
      new RegExp(`waiting for Nova: ${inst.uuid} \\(cold source sent\\)`),
    );
    await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: migration('compute1', 'slowpeer') });
    assert.equal(fileSha(nvramPath(A, inst)), want);
    assert.deepEqual(storesFor(A, inst), [path.basename(nvramPath(A, inst))]);
    await A.stop();
  });

  it('exits 1 when the bound cuts a cold migration, and the next start reverts it with nothing lost', async () => {
    editConf(A, (t) => t.replace(/\[api\]\n(shutdown_timeout = \d+\n)?/, '[api]\nshutdown_timeout = 1\n'));
    await A.start();
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const inFlight = mdpo(inst, 'hungpeer');
    await waitFor('the store stashed', () => journalStatus(A, inst) === 'stashed');
    const t0 = Date.now();
    A.proc!.kill('SIGTERM');
    assert.equal(await A.waitExit(), 1);
    assert.ok(Date.now() - t0 < 5000, `exited after ${Date.now() - t0} ms`);
    assert.equal((await inFlight).status, 0, 'the cut call gets no answer');
    const cut = logLines(A, 'shutdown timeout reached: stopping with calls in flight; their journals are completed at the next start')[0];
    assert.deepEqual(cut?.instances, [inst.uuid]);
    assert.equal(journalStatus(A, inst), 'stashed');
    assert.equal(storesFor(A, inst).length, 2, 'the live store and its stash');

    await A.start();
    await waitFor('recovery done', async () => (await A.http.get('/readyz')).status === 200);
    const ready = await A.http.get('/readyz');
    assert.equal(ready.data.checks.find((c: { name: string }) => c.name === 'recovery').detail, 'done: 1 reverted');
    assert.equal(journalStatus(A, inst), null);
    assert.equal(fileSha(nvramPath(A, inst)), want);
    assert.deepEqual(storesFor(A, inst), [path.basename(nvramPath(A, inst))]);
    const info = await A.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(info.data.power_state, 1, 'running again, as before the migration');
    assert.equal(info.data.nvram.sha256, want);
    const m = await scrape(A.http);
    assert.equal(sample(m, 'nova_uefi_shim_migrations_finished_total', { kind: 'cold', role: 'source', outcome: 'reverted' }), 1);
    // Nova's own revert afterwards finds nothing left to do.
    await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: migration('compute1', 'hungpeer') });
    assert.equal(fileSha(nvramPath(A, inst)), want);
    await A.stop();
  });
});

describe('SIGHUP: reload the config file', function () {
  this.timeout(120000);
  let A: SidecarProcess;
  let cleanup: () => Promise<void>;
  let newCode: string;
  let newVars: string;
  before(async () => {
    const made = await makeHosts([{ name: 'compute1' }]);
    [A] = made.hosts;
    cleanup = made.cleanup;
    // A second 4M build, as a package upgrade installs beside the first.
    newCode = makeFile(path.join(made.root, 'fw-new', 'OVMF_CODE_4M.fd'), SIZES.ovmf4mCode, 0xff, 'CODE-NEW');
    newVars = makeFile(path.join(made.root, 'fw-new', 'OVMF_VARS_4M.fd'), SIZES.ovmf4mVars, 0xff, 'VARS-NEW');
    await A.start();
  });
  after(async () => cleanup());

  const hup = async (n: number, msg: string) => {
    A.proc!.kill('SIGHUP');
    await waitFor(msg, () => logLines(A, msg).length >= n);
  };

  it('uses a changed firmware map for new spawns, keeps pinned firmware, and drops no request', async () => {
    const old = A.fw.map['firmware:x86_64'].loader as string;
    const pinned = newInstance('compute1');
    await call(A, pinned.uuid, 'spawn', { instance: pinned, image_meta: UEFI });
    let running = true;
    const statuses: number[] = [];
    const load = (async () => {
      while (running) {
        const rs = await Promise.all([
          A.http.get(`/v1/instances/${pinned.uuid}`),
          A.http.get('/v1/host/firmware'),
          A.http.get('/v1/instances'),
          A.http.get('/readyz'),
        ]);
        statuses.push(...rs.map((r) => r.status));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 200));
      editConf(A, (t) => t.replace(/^loader = .*$/m, `loader = ${newCode}`).replace(/^nvram_template = .*$/m, `nvram_template = ${newVars}`));
      await hup(1, 'configuration reloaded');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      running = false;
      await load;
    }
    assert.ok(statuses.length >= 8, `${statuses.length} requests during the reload`);
    assert.deepEqual([...new Set(statuses)], [200]);
    assert.deepEqual(logLines(A, 'configuration reloaded')[0].changed, ['[firmware:x86_64]']);

    const fresh = newInstance('compute1');
    const spawned = await call(A, fresh.uuid, 'spawn', { instance: fresh, image_meta: UEFI });
    assert.equal(spawned.firmware.loader, newCode);
    assert.equal(spawned.firmware.nvram_template, newVars);
    assert.equal((await A.http.get(`/v1/instances/${pinned.uuid}`)).data.firmware.loader, old);
    const rebooted = await call(A, pinned.uuid, 'reboot', { instance: pinned, reboot_type: 'HARD' });
    assert.equal(rebooted.firmware.loader, old, 'a hard reboot keeps the pinned build while its files exist');
    const m = await scrape(A.http);
    assert.equal(sample(m, 'nova_uefi_shim_config_reloads_total', { outcome: 'success' }), 1);
  });

  it('refuses a broken file as a whole, logging every problem, and keeps serving the old configuration', async () => {
    const good = fs.readFileSync(A.confFile, 'utf8');
    editConf(A, (t) =>
      t
        .replace(/^timeout = .*$/m, 'timeout = soon')
        .replace('[peer]\n', '[peer]\nbogus = 1\n')
        .replace(/^loader = .*$/m, 'loader = /nonexistent/CODE.fd'),
    );
    try {
      await hup(1, 'configuration reload refused, the running configuration keeps serving');
      const refused = logLines(A, 'configuration reload refused, the running configuration keeps serving')[0];
      assert.deepEqual(refused.problems, ["[peer] timeout: 'soon' is not an integer in [1, inf]", '[peer] bogus: unknown option']);
      const inst = newInstance('compute1');
      assert.equal((await call(A, inst.uuid, 'spawn', { instance: inst, image_meta: UEFI })).firmware.loader, newCode, 'the last good map serves');
      const ready = await A.http.get('/readyz');
      assert.equal(ready.status, 200);
      assert.match(ready.data.checks[0].detail, /the last reload was refused/);
      const m = await scrape(A.http);
      assert.equal(sample(m, 'nova_uefi_shim_config_reloads_total', { outcome: 'failed' }), 1);
      assert.equal(sample(m, 'nova_uefi_shim_config_last_reload_successful'), 0);

      // Valid syntax, but the map names a file that is not there: refused too.
      editConf(A, () => good.replace(/^loader = .*$/m, 'loader = /nonexistent/CODE.fd'));
      await hup(2, 'configuration reload refused, the running configuration keeps serving');
      const second = logLines(A, 'configuration reload refused, the running configuration keeps serving')[1];
      assert.match((second.problems as string[]).join('\n'), /\[firmware:x86_64\]: skipped: \/nonexistent\/CODE\.fd does not exist/);
    } finally {
      fs.writeFileSync(A.confFile, good);
    }
    await hup(2, 'configuration reloaded');
    assert.equal((await A.http.get('/readyz')).data.checks[0].detail.includes('refused'), false);
  });

  it('names options that only a restart changes and keeps their running values', async () => {
    const port = await freePort();
    editConf(A, (t) =>
      t
        .replace(/^port = .*$/m, `port = ${port}`)
        .replace(/^nvram_dir = .*$/m, 'nvram_dir = /elsewhere/nvram')
        .replace(/^timeout = .*$/m, 'timeout = 7'),
    );
    await hup(3, 'configuration reloaded');
    const kept = logLines(A, 'option changed in the file takes effect at restart; the running value is kept').map((l) => l.option);
    assert.deepEqual(kept, ['[api] port', '[nvram] nvram_dir']);
    assert.deepEqual(logLines(A, 'configuration reloaded')[2].changed, ['[peer] timeout']);
    assert.equal((await A.http.get('/healthz')).status, 200, 'still on the old port');
    const inst = newInstance('compute1');
    await call(A, inst.uuid, 'spawn', { instance: inst, image_meta: UEFI });
    assert.ok(fs.existsSync(nvramPath(A, inst)), 'stores still go to the running nvram_dir');
  });
});
