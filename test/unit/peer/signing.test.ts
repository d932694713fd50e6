import { strict as assert } from 'node:assert';
import {
  signRequest,
  signResponse,
  verifyResponse,
  SignatureVerifier,
  PeerAuthError,
  H_RESPONSE_SIGNATURE,
  H_NONCE,
  H_DESTINATION,
} from '../../../src/peer/signing';

describe('peer/signing', () => {
  const body = Buffer.from('{"a":1}');
  const now = 1_800_000_000_000;
  const B = () => ['compute2'];

  it('accepts a fresh signature once and refuses the replay', () => {
    const v = new SignatureVerifier('s3cret-s3cret-s3cret', 300, B);
    const h = signRequest('s3cret-s3cret-s3cret', 'PUT', '/v1/peer/x', 'compute2', body, now);
    v.verify('PUT', '/v1/peer/x', h, body, now + 1000);
    assert.throws(
      () => v.verify('PUT', '/v1/peer/x', h, body, now + 2000),
      (e: Error) => e instanceof PeerAuthError && /replayed/.test(e.message),
    );
  });

  it('refuses a request signed for another host (cross-host replay) before the body is looked at', () => {
    const onA = new SignatureVerifier('s3cret-s3cret-s3cret', 300, () => ['compute1']);
    const onB = new SignatureVerifier('s3cret-s3cret-s3cret', 300, B);
    const h = signRequest('s3cret-s3cret-s3cret', 'PUT', '/v1/peer/x', 'compute1', body, now);
    onA.verifyHeaders('PUT', '/v1/peer/x', h, now);
    assert.throws(
      () => onB.verifyHeaders('PUT', '/v1/peer/x', h, now),
      (e: Error) => e instanceof PeerAuthError && /another host/.test(e.message),
    );
    // Rewriting the destination header breaks the signature.
    assert.throws(() => onB.verifyHeaders('PUT', '/v1/peer/x', { ...h, [H_DESTINATION]: 'compute2' }, now), /wrong signature/);
  });

  const tampered: [string, (h: Record<string, string>) => [string, string, Record<string, string>, Buffer, number]][] = [
    [
      'a different secret',
      (h) => [
        'PUT',
        '/v1/peer/x',
        { ...h, 'x-shim-signature': signRequest('other-other-other-other', 'PUT', '/v1/peer/x', 'compute2', body, now)['x-shim-signature'] },
        body,
        now,
      ],
    ],
    ['a changed body', (h) => ['PUT', '/v1/peer/x', h, Buffer.from('{"a":2}'), now]],
    ['a changed declared length', (h) => ['PUT', '/v1/peer/x', { ...h, 'x-shim-body-length': '8' }, body, now]],
    ['a changed path', (h) => ['PUT', '/v1/peer/y', h, body, now]],
    ['a changed method', (h) => ['POST', '/v1/peer/x', h, body, now]],
    ['a stale timestamp', (h) => ['PUT', '/v1/peer/x', h, body, now + 301_000]],
    ['a future timestamp', (h) => ['PUT', '/v1/peer/x', h, body, now - 301_000]],
    ['missing headers', () => ['PUT', '/v1/peer/x', {}, body, now]],
  ];
  for (const [what, mk] of tampered) {
    it(`refuses ${what}`, () => {
      const v = new SignatureVerifier('s3cret-s3cret-s3cret', 300, B);
      const [m, p, h, b, t] = mk(signRequest('s3cret-s3cret-s3cret', 'PUT', '/v1/peer/x', 'compute2', body, now));
      assert.throws(() => v.verify(m, p, h, b, t), PeerAuthError);
    });
  }

  it('refuses everything when no secret is configured, and will not sign without one', () => {
    const v = new SignatureVerifier('', 300, B);
    assert.throws(() => v.verify('PUT', '/x', signRequest('s', 'PUT', '/x', 'compute2', body, now), body, now), /shared_secret/);
    assert.throws(() => signRequest('', 'PUT', '/x', 'compute2', body, now), /shared_secret/);
  });

  describe('answers', () => {
    const secret = 's3cret-s3cret-s3cret';
    const req = { nonce: 'ab'.repeat(16), destination: 'compute2' };
    const answer = Buffer.from('{"sha256":"00"}');
    const signed = { [H_RESPONSE_SIGNATURE]: signResponse(secret, req, 200, answer) };
    it('accepts the answer signed for this request', () => verifyResponse(secret, req, 200, signed, answer));
    const forged: [string, () => void][] = [
      ['an unsigned answer', () => verifyResponse(secret, req, 200, {}, answer)],
      ['a changed body', () => verifyResponse(secret, req, 200, signed, Buffer.from('{"sha256":"01"}'))],
      ['a changed status', () => verifyResponse(secret, req, 201, signed, answer)],
      ['an answer to another request', () => verifyResponse(secret, { ...req, nonce: 'cd'.repeat(16) }, 200, signed, answer)],
      ['an answer from another host', () => verifyResponse(secret, { ...req, destination: 'compute3' }, 200, signed, answer)],
      ['an answer signed with another secret', () => verifyResponse('other-other-other-other', req, 200, signed, answer)],
    ];
    for (const [what, f] of forged) it(`refuses ${what}`, () => assert.throws(f, PeerAuthError));
    it('a request signature never passes for an answer', () => {
      const h = signRequest(secret, 'GET', '/v1/peer/x', 'compute2', Buffer.alloc(0), now);
      assert.throws(() =>
        verifyResponse(secret, { nonce: h[H_NONCE], destination: 'compute2' }, 200, { [H_RESPONSE_SIGNATURE]: h['x-shim-signature'] }, answer),
      );
    });
  });
});
