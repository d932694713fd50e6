/**
 * TLS between sidecar processes, with certificates this test makes with openssl: a cold
 * migration whose store crosses HTTPS between two sidecars that trust one CA; a peer whose
 * certificate no trusted CA signed, and one whose certificate names another host, refused
 * before a byte of the store is sent; the API over HTTPS for the operator's client; a renewed
 * certificate picked up on SIGHUP.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import axios from 'axios';
import { makeHosts, type SidecarProcess } from '../support/processes';
import { call, coldMove, fileSha, migration, newInstance, nvramPath, spawnWithMarker, storesFor } from '../support/novaFlows';
import { selfSigned, TestCa } from '../support/certs';
import { delta, scrape } from '../support/metrics';
import { runCli } from '../../src/cli/program';

/** The serial number of the certificate a TLS server at `port` presents. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca), servername: undefined }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.once('error', reject);
  });
}

describe('TLS for the API and between sidecars', function () {
  this.timeout(120000);
  let A: SidecarProcess, B: SidecarProcess, C: SidecarProcess, D: SidecarProcess;
  let ca: TestCa;
  let cleanup: () => Promise<void>;
  before(async function () {
    const made = await makeHosts([{ name: 'compute1' }, { name: 'compute2' }, { name: 'compute3' }, { name: 'compute4' }]);
    [A, B, C, D] = made.hosts;
    cleanup = made.cleanup;
    ca = new TestCa(path.join(made.root, 'pki'));
    const certs = new Map([
      [A, ca.issue('compute1', 'IP:127.0.0.1,DNS:localhost')],
      [B, ca.issue('compute2', 'IP:127.0.0.1,DNS:localhost')],
      // Trusted by nobody here: self-signed.
      [C, selfSigned(path.join(made.root, 'rogue'), 'compute3', 'IP:127.0.0.1')],
      // Signed by the CA, but for another name than the URL the peers use.
      [D, ca.issue('compute4', 'DNS:compute4.example')],
    ]);
    for (const [h, c] of certs) {
      const conf = fs
        .readFileSync(h.confFile, 'utf8')
        .replace('[api]\n', `[api]\ntls_cert_file = ${c.cert}\ntls_key_file = ${c.key}\n`)
        .replace(/^hosts = (.*)$/m, (line) => line.replaceAll('http://', 'https://'))
        .replace('[peer]\n', `[peer]\nca_file = ${ca.cert}\n`);
      fs.writeFileSync(h.confFile, conf);
      h.useTls(h === C ? c.cert : ca.cert);
    }
    await Promise.all([A.start(), B.start(), C.start(), D.start()]);
  });
  after(async () => cleanup());

  it('serves the API over HTTPS only, verified against the CA', async () => {
    assert.equal((await A.http.get('/readyz')).status, 200);
    await assert.rejects(
      axios.get(`${A.url}/healthz`),
      (e: { code?: string }) => e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'a client without the CA refuses it',
    );
    await assert.rejects(
      axios.get(`http://127.0.0.1:${A.port}/healthz`, { timeout: 5000 }),
      (e: { code?: string }) => ['ECONNRESET', 'ERR_BAD_RESPONSE', 'ECONNABORTED'].includes(e.code ?? ''),
      'plain HTTP is not answered',
    );
    const cert = new X509Certificate(fs.readFileSync(path.join(ca.dir, 'compute1.pem')));
    assert.ok(cert.checkIssued(new X509Certificate(fs.readFileSync(ca.cert))));
  });

  it('carries the store of a cold migration over TLS between two sidecars that trust one CA', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const m0 = await scrape(A.http);
    const { mig, moved, out } = await coldMove(A, B, inst);
    assert.equal(out.nvram.sha256, want);
    await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved });
    assert.equal(fileSha(nvramPath(B, inst)), want);
    assert.deepEqual(storesFor(A, inst), []);
    const m1 = await scrape(A.http);
    assert.equal(delta(m0, m1, 'nova_uefi_shim_nvram_bytes_sent_total'), 540_672);
    assert.equal(delta(m0, m1, 'nova_uefi_shim_peer_request_failures_total'), 0);
  });

  const refusals: [string, () => SidecarProcess, string, RegExp][] = [
    ['a self-signed certificate', () => C, 'compute3', /DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN/],
    ['a certificate for another host name', () => D, 'compute4', /ERR_TLS_CERT_ALTNAME_INVALID/],
  ];
  for (const [what, host, name, code] of refusals) {
    it(`refuses a peer with ${what} and keeps the store at the source`, async () => {
      const inst = newInstance('compute1');
      const want = await spawnWithMarker(A, inst);
      const m0 = await scrape(A.http);
      const before = host().nvramFiles();
      const r = await A.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest: name, flavor: inst.flavor });
      assert.equal(r.status, 502, JSON.stringify(r.data));
      assert.equal(r.data.error.type, 'MigrationError');
      assert.match(r.data.error.message, new RegExp(`peer ${name} \\(https://127\\.0\\.0\\.1:\\d+\\) refused: its TLS certificate does not verify`));
      assert.match(r.data.error.message, code);
      assert.match(r.data.error.message, /set \[peer\] ca_file/);
      assert.deepEqual(host().nvramFiles(), before, 'nothing arrived there');
      const m1 = await scrape(A.http);
      assert.equal(delta(m0, m1, 'nova_uefi_shim_peer_request_failures_total', { peer: name, reason: 'tls' }), 1);
      await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: migration('compute1', name) });
      assert.equal(fileSha(nvramPath(A, inst)), want);
    });
  }

  it('doctor checks the certificate and pings the peers over TLS', async () => {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
    const r = await runCli(['doctor', '--config-file', A.confFile, '--json'], io);
    const checks = (JSON.parse(out) as { checks: { check: string; status: string; message: string }[] }).checks;
    const tlsLine = checks.find((c) => c.check === 'tls')!;
    assert.equal(tlsLine.status, 'OK', tlsLine.message);
    assert.match(tlsLine.message, /CN=compute1, signed by CN=nova-uefi-shim test CA, valid until .*; names IP Address:127\.0\.0\.1, DNS:localhost/);
    const peers = checks.filter((c) => c.check === 'peer');
    assert.deepEqual(
      peers.map((c) => [c.message.split(' ')[0], c.status]),
      [
        ['compute2', 'OK'],
        ['compute3', 'FAIL'],
        ['compute4', 'FAIL'],
      ],
    );
    assert.deepEqual(r, { exit: 1 });
  });

  it('serves a renewed certificate after SIGHUP without a restart', async () => {
    const before = await servedSerial(A.port, ca.cert);
    const renewed = ca.issue('compute1-renewed', 'IP:127.0.0.1,DNS:localhost');
    const conf = fs.readFileSync(A.confFile, 'utf8');
    const cur = /^tls_cert_file = (.*)$/m.exec(conf)![1];
    const curKey = /^tls_key_file = (.*)$/m.exec(conf)![1];
    fs.copyFileSync(renewed.cert, cur);
    fs.copyFileSync(renewed.key, curKey);
    A.proc!.kill('SIGHUP');
    const deadline = Date.now() + 10000;
    while (!A.log.includes('"msg":"configuration reloaded"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const after = await servedSerial(A.port, ca.cert);
    assert.notEqual(after, before);
    assert.equal((await A.http.get('/readyz')).status, 200);
  });
});
