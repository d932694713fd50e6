/**
 * cli/client against a real HTTP server on loopback: what is sent (token, JSON body), what
 * comes back, and the exit code each kind of failure gets (not found, not authorized, refused,
 * not JSON, unreachable, no answer in time), with the message the user reads.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { CliError, EXIT, SidecarClient } from '../../../src/cli/client';
import { closedPort, listenLoopback, type Loopback } from '../../support/loopback';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('cli/client', () => {
  let srv: Loopback;
  let url: string;
  let seen: Seen[];
  let reply: (res: http.ServerResponse) => void;
  const held: http.ServerResponse[] = [];

  before(async () => {
    srv = await listenLoopback((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        reply(res);
      });
    });
    url = srv.base;
  });
  after(() => {
    for (const r of held) r.destroy();
    return srv.close();
  });
  beforeEach(() => {
    seen = [];
    reply = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });

  const client = (token = 's3cret', timeoutMs?: number) => new SidecarClient({ url, token, source: 'the command line' }, timeoutMs);
  const status = (code: number, body: string) => (res: http.ServerResponse) => res.writeHead(code, { 'content-type': 'application/json' }).end(body);
  const cliError = (exit: number, msg: RegExp) => (e: unknown) => {
    assert.ok(e instanceof CliError, String(e));
    assert.equal(e.exit, exit);
    assert.match(e.message, msg);
    return true;
  };

  it('sends the bearer token and a JSON body, and answers the parsed JSON', async () => {
    reply = status(200, '{"backups":[{"generation":2}]}');
    const got = await client().call<{ backups: { generation: number }[] }>('POST', '/v1/instances/x/nvram/backups', { dry_run: false });
    assert.deepEqual(got, { backups: [{ generation: 2 }] });
    const s = seen[0];
    assert.equal(s.method, 'POST');
    assert.equal(s.url, '/v1/instances/x/nvram/backups');
    assert.equal(s.headers.authorization, 'Bearer s3cret');
    assert.equal(s.headers['content-type'], 'application/json');
    assert.equal(s.headers.accept, 'application/json');
    assert.equal(s.body, '{"dry_run":false}');
  });

  it('sends no Authorization without a token and no Content-Type without a body; an empty answer is {}', async () => {
    reply = (res) => res.writeHead(200).end();
    assert.deepEqual(await client('').call('GET', '/v1/instances'), {});
    assert.equal(seen[0].headers.authorization, undefined);
    assert.equal(seen[0].headers['content-type'], undefined);
    assert.equal(seen[0].body, '');
  });

  it('404 is exit 3 with the Nova type and message', async () => {
    reply = status(404, '{"error":{"type":"InstanceNotFound","code":404,"message":"Instance x could not be found."}}');
    await assert.rejects(client().call('GET', '/v1/instances/x'), cliError(EXIT.NOT_FOUND, /^InstanceNotFound: Instance x could not be found\.$/));
  });

  it('401 and 403 are exit 4 and say where the token comes from', async () => {
    reply = status(401, '{"error":{"type":"NotAuthorized","message":"missing token"}}');
    await assert.rejects(
      client('').call('GET', '/v1/instances'),
      cliError(EXIT.UNAUTHORIZED, /^NotAuthorized: missing token \(give the sidecar's \[api\] auth_token with --token/),
    );
    reply = status(403, '');
    await assert.rejects(client().call('GET', '/v1/instances'), cliError(EXIT.UNAUTHORIZED, /^HTTP 403 \(give/));
  });

  it('other refusals are exit 1: a typed error, or the status when the answer has none', async () => {
    reply = status(409, '{"error":{"type":"InstanceInvalidState","message":"guest running"}}');
    await assert.rejects(client().call('PUT', '/v1/x', {}), cliError(EXIT.REFUSED, /^InstanceInvalidState: guest running$/));
    reply = status(500, '{"error":{"message":"boom"}}');
    await assert.rejects(client().call('GET', '/v1/x'), cliError(EXIT.REFUSED, /^Error: boom$/));
    reply = status(502, '{}');
    await assert.rejects(client().call('GET', '/v1/x'), cliError(EXIT.REFUSED, /^HTTP 502$/));
  });

  it('an answer that is not JSON is exit 1 asking whether the URL is a sidecar', async () => {
    reply = (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>router login</html>');
    await assert.rejects(
      client().call('GET', '/v1/instances'),
      cliError(EXIT.REFUSED, new RegExp(`^${url}/v1/instances answered 200 with something that is not JSON \\(is ${url} a nova-uefi-shim sidecar\\?\\)$`)),
    );
  });

  it('a sidecar that refuses the connection is exit 5 naming the URL, its source and the system error', async () => {
    const port = await closedPort();
    const c = new SidecarClient({ url: `http://127.0.0.1:${port}`, token: '', source: 'NOVA_UEFI_SHIM_URL' });
    await assert.rejects(
      c.call('GET', '/healthz'),
      cliError(EXIT.UNREACHABLE, new RegExp(`^cannot reach the sidecar at http://127.0.0.1:${port} \\(from NOVA_UEFI_SHIM_URL\\): ECONNREFUSED`)),
    );
  });

  it('no answer within the timeout is exit 5 saying how long it waited', async () => {
    reply = (res) => void held.push(res);
    await assert.rejects(client('t', 300).call('GET', '/v1/slow'), cliError(EXIT.UNREACHABLE, /: no answer within 0\.3 s$/));
  });
});
