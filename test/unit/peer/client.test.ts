/**
 * peer/client against a real HTTP server on loopback that checks the request's signature as a
 * peer sidecar does (SignatureVerifier) and answers signed, unsigned or forged: the call's
 * answer is taken only when signed for this request; the peer's typed errors come back as
 * themselves; transport failures (refused, timeout) are MigrationErrors naming the peer. Also
 * how peers are found (hosts, template, IPv6) and `[peer] ca_file` refused early.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { testConfig } from '../../../src/config';
import { NovaError } from '../../../src/errors';
import { PeerClient, peerHttpsAgent } from '../../../src/peer/client';
import { H_RESPONSE_SIGNATURE, SignatureVerifier, signResponse, type VerifiedRequest } from '../../../src/peer/signing';
import { closedPort, listenLoopback, type Loopback } from '../../support/loopback';

const SECRET = 'peer-client-test-secret-0123456789';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  verified: VerifiedRequest | null;
  refused: string | null;
}

type Answer = (s: Seen, res: http.ServerResponse) => void;

/** Answer `status` with `body` as JSON, signed with `secret` for the verified request (unsigned with null). */
function answer(status: number, body: unknown, secret: string | null = SECRET): Answer {
  return (s, res) => {
    const raw = Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (secret && s.verified) headers[H_RESPONSE_SIGNATURE] = signResponse(secret, s.verified, status, raw);
    res.writeHead(status, headers).end(raw);
  };
}

const isNova =
  (type: string, code: number, msg: RegExp) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof NovaError, String(e));
    assert.equal(e.type, type);
    assert.equal(e.code, code);
    assert.match(e.message, msg);
    return true;
  };

describe('peer/client', () => {
  let srv: Loopback;
  let url: string;
  let seen: Seen[];
  let reply: Answer;
  const verifier = new SignatureVerifier(SECRET, 300, () => ['compute2']);

  before(async () => {
    srv = await listenLoopback((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks), verified: null, refused: null };
        try {
          s.verified = verifier.verify(s.method, s.url, req.headers, s.body);
        } catch (e) {
          s.refused = (e as Error).message;
        }
        seen.push(s);
        reply(s, res);
      });
    });
    url = srv.base;
  });
  after(() => srv.close());
  beforeEach(() => {
    seen = [];
    reply = answer(200, { ok: true });
  });

  const client = (peer: Record<string, unknown> = {}, requestId?: string) =>
    new PeerClient(testConfig({ DEFAULT: { host: 'compute1' }, peer: { shared_secret: SECRET, hosts: { compute2: url + '/' }, ...peer } }), requestId);

  it('sends a signed request the peer verifies (method, path, body, destination) and takes the signed answer', async () => {
    reply = answer(200, { state: 'staged', generation: 3 });
    const c = client().forRequest('req-0c8f5a3e-3d2b-4c1a-9e8f-7a6b5c4d3e2f');
    const got = await c.call<{ state: string; generation: number }>('compute2', 'PUT', '/v1/peer/instances/x/stage?force=1', { a: [1, 2], b: 'ü' });
    assert.deepEqual(got, { state: 'staged', generation: 3 });
    assert.equal(seen.length, 1);
    const s = seen[0];
    assert.equal(s.refused, null, 'the peer verified the signature');
    assert.equal(s.method, 'PUT');
    assert.equal(s.url, '/v1/peer/instances/x/stage?force=1');
    assert.equal(s.body.toString('utf8'), '{"a":[1,2],"b":"ü"}');
    assert.equal(s.headers['content-type'], 'application/json');
    assert.equal(s.headers['x-openstack-request-id'], 'req-0c8f5a3e-3d2b-4c1a-9e8f-7a6b5c4d3e2f');
    assert.equal(s.verified?.destination, 'compute2');
  });

  it('a call without body sends no content type and an empty signed body; no request id unless given', async () => {
    await client().call('compute2', 'GET', '/v1/peer/ping');
    const s = seen[0];
    assert.equal(s.refused, null);
    assert.equal(s.body.length, 0);
    assert.equal(s.headers['content-type'], undefined);
    assert.equal(s.headers['x-openstack-request-id'], undefined);
  });

  it('refuses an unsigned success and a success signed with another secret (MigrationError 502)', async () => {
    reply = answer(200, { ok: true }, null);
    await assert.rejects(
      client().call('compute2', 'GET', '/v1/peer/ping'),
      isNova('MigrationError', 502, /answered HTTP 200 the answer is not signed: the answer is refused/),
    );
    reply = answer(200, { ok: true }, 'some-other-secret-0123456789abcdef');
    await assert.rejects(client().call('compute2', 'GET', '/v1/peer/ping'), isNova('MigrationError', 502, /wrong signature: the answer is refused/));
  });

  it("refuses an answer signed for another request (a replayed answer's signature)", async () => {
    reply = (_s, res) => {
      const raw = Buffer.from('{"ok":true}');
      const other = { nonce: 'ab'.repeat(16), destination: 'compute2' };
      res.writeHead(200, { [H_RESPONSE_SIGNATURE]: signResponse(SECRET, other, 200, raw) }).end(raw);
    };
    await assert.rejects(client().call('compute2', 'GET', '/v1/peer/ping'), isNova('MigrationError', 502, /wrong signature/));
  });

  it("re-raises the peer's typed error as itself, marked when it was not signed", async () => {
    reply = answer(409, { error: { type: 'InstanceInvalidState', code: 409, message: 'guest running' } });
    await assert.rejects(client().call('compute2', 'POST', '/v1/peer/x', {}), isNova('InstanceInvalidState', 409, /^peer compute2: guest running$/));
    reply = answer(401, { error: { type: 'PeerAuthFailed', code: 401, message: 'wrong signature' } }, null);
    await assert.rejects(
      client().call('compute2', 'POST', '/v1/peer/x', {}),
      isNova('PeerAuthFailed', 401, /^peer compute2: wrong signature \(unsigned answer\)$/),
    );
  });

  it('an error answer without a usable type is a MigrationError naming the status (and a bogus type is not raised as a class)', async () => {
    reply = (_s, res) => res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>oops</h1>');
    await assert.rejects(
      client().call('compute2', 'GET', '/v1/peer/x'),
      isNova('MigrationError', 502, /answered HTTP 500 \(HTTP 500\) \[the answer is not signed\]$/),
    );
    reply = answer(500, { error: { type: 'Not A Type!', message: 'boom' } });
    await assert.rejects(client().call('compute2', 'GET', '/v1/peer/x'), isNova('MigrationError', 502, /answered HTTP 500 \(error: boom\)$/));
  });

  it('a peer that refuses the connection or does not answer in [peer] timeout is a MigrationError naming it', async () => {
    const port = await closedPort();
    const c = client({ hosts: { compute3: `http://127.0.0.1:${port}` } });
    await assert.rejects(
      c.call('compute3', 'GET', '/v1/peer/ping'),
      isNova('MigrationError', 502, new RegExp(`peer compute3 \\(http://127.0.0.1:${port}\\) unreachable \\(connection refused\\)`)),
    );
    let hold: http.ServerResponse | undefined;
    reply = (_s, res) => (hold = res);
    await assert.rejects(client({ timeout: 1 }).call('compute2', 'GET', '/v1/peer/slow'), isNova('MigrationError', 502, /peer compute2 .* timed out/));
    hold?.destroy();
  });

  it('finds peers from [peer] hosts first (trailing slashes dropped), then the template (IPv6 bracketed); unknown or no peers refused', () => {
    const c = client({ hosts: { compute2: 'http://10.0.0.2:7780//' }, url_template: 'https://{host}:7780' });
    assert.equal(c.urlFor('compute2'), 'http://10.0.0.2:7780');
    assert.equal(c.urlFor('compute9'), 'https://compute9:7780');
    assert.equal(c.urlFor('fd00::9'), 'https://[fd00::9]:7780');
    assert.throws(() => c.urlFor('evil/../x'), isNova('InvalidInput', 400, /host/));
    const none = new PeerClient(testConfig({ DEFAULT: { host: 'compute1' }, peer: { shared_secret: SECRET } }));
    assert.throws(() => none.urlFor('compute2'), isNova('MigrationError', 400, /no peer sidecar known for host 'compute2'/));
    assert.throws(() => client().urlFor('compute9'), isNova('InvalidInput', 400, /not a configured peer \(\[peer\] hosts names: compute2\)/));
  });

  it('checkHost accepts this host and configured peers only, naming the field; isSelf knows aliases of its own URL', () => {
    const c = client({ hosts: { compute1: 'http://10.0.0.1:7780', 'compute1.example': 'http://10.0.0.1:7780/', compute2: url } });
    assert.equal(c.checkHost('compute1'), 'compute1');
    assert.equal(c.checkHost('compute2'), 'compute2');
    assert.throws(() => c.checkHost('compute9', 'migrate_data.dest'), isNova('InvalidInput', 400, /migrate_data\.dest/));
    assert.throws(() => c.checkHost(42), isNova('InvalidInput', 400, /dest: required/));
    assert.equal(c.isSelf('compute1'), true);
    assert.equal(c.isSelf('compute2'), false);
    // Mapped to the same URL as this host's entry.
    assert.equal(
      new PeerClient(testConfig({ DEFAULT: { host: 'compute1' }, peer: { hosts: { compute1: 'http://a', alias: 'http://a' } } })).isSelf('alias'),
      true,
    );
    assert.equal(c.isSelf('compute1.example', 'http://10.0.0.1:7780'), true, 'by the own URL given, trailing slash aside');
    assert.equal(c.isSelf('compute2', 'http://10.0.0.1:7780'), false);
  });

  it('[peer] ca_file: none is the system CAs; an unreadable file or one without a PEM certificate is refused naming the option', () => {
    assert.equal(peerHttpsAgent(testConfig({})), undefined);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-peerca-'));
    try {
      const missing = path.join(dir, 'missing.pem');
      assert.throws(() => peerHttpsAgent(testConfig({ peer: { ca_file: missing } })), /cannot read \[peer\] ca_file .*missing\.pem/);
      const junk = path.join(dir, 'junk.pem');
      fs.writeFileSync(junk, 'not a certificate');
      assert.throws(() => peerHttpsAgent(testConfig({ peer: { ca_file: junk } })), /\[peer\] ca_file .*junk\.pem holds no PEM certificate/);
      assert.throws(() => new PeerClient(testConfig({ peer: { ca_file: junk } })), /holds no PEM certificate/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
