import { strict as assert } from 'node:assert';
import { signRequest, SignatureVerifier, PeerAuthError } from '../../../src/peer/signing';

describe('peer/signing', () => {
  const body = Buffer.from('{"a":1}');
  const now = 1_800_000_000_000;

  it('accepts a fresh signature once and refuses the replay', () => {
    const v = new SignatureVerifier('s3cret', 300);
    const h = signRequest('s3cret', 'PUT', '/v1/peer/x', body, now);
    v.verify('PUT', '/v1/peer/x', h, body, now + 1000);
    assert.throws(
      () => v.verify('PUT', '/v1/peer/x', h, body, now + 2000),
      (e: Error) => e instanceof PeerAuthError && /replayed/.test(e.message),
    );
  });

  const tampered: [string, (h: Record<string, string>) => [string, string, Record<string, string>, Buffer, number]][] = [
    [
      'a different secret',
      (h) => ['PUT', '/v1/peer/x', { ...h, 'x-shim-signature': signRequest('other', 'PUT', '/v1/peer/x', body, now)['x-shim-signature'] }, body, now],
    ],
    ['a changed body', (h) => ['PUT', '/v1/peer/x', h, Buffer.from('{"a":2}'), now]],
    ['a changed path', (h) => ['PUT', '/v1/peer/y', h, body, now]],
    ['a changed method', (h) => ['POST', '/v1/peer/x', h, body, now]],
    ['a stale timestamp', (h) => ['PUT', '/v1/peer/x', h, body, now + 301_000]],
    ['a future timestamp', (h) => ['PUT', '/v1/peer/x', h, body, now - 301_000]],
    ['missing headers', () => ['PUT', '/v1/peer/x', {}, body, now]],
  ];
  for (const [what, mk] of tampered) {
    it(`refuses ${what}`, () => {
      const v = new SignatureVerifier('s3cret', 300);
      const [m, p, h, b, t] = mk(signRequest('s3cret', 'PUT', '/v1/peer/x', body, now));
      assert.throws(() => v.verify(m, p, h, b, t), PeerAuthError);
    });
  }

  it('refuses everything when no secret is configured, and will not sign without one', () => {
    const v = new SignatureVerifier('', 300);
    assert.throws(() => v.verify('PUT', '/x', signRequest('s', 'PUT', '/x', body, now), body, now), /shared_secret/);
    assert.throws(() => signRequest('', 'PUT', '/x', body, now), /shared_secret/);
  });
});
