/**
 * peer/hosts: only a configured peer name, or with a URL template a plain host name or IP
 * address, is a peer; the names this sidecar answers to include its IP aliases.
 */
import { strict as assert } from 'node:assert';
import { testConfig } from '../../../src/config';
import { InvalidInput } from '../../../src/errors';
import { checkPeerHost, isHostName, ownPeerNames, templateUrl } from '../../../src/peer/hosts';

describe('peer/hosts', () => {
  const hostNames: Array<[string, boolean]> = [
    ['compute-1', true],
    ['compute-1.example.org', true],
    ['10.0.0.7', true],
    ['fd00::7', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    [`${'a'.repeat(50)}.`.repeat(5) + 'b', false],
    ['', false],
    ['-leading', false],
    ['trailing-', false],
    ['under_score', false],
    ['127.0.0.1:9999', false],
    ['host/path', false],
    ['user@host', false],
    ['host name', false],
    ['host?x', false],
    ['a..b', false],
  ];
  for (const [s, ok] of hostNames)
    it(`isHostName(${JSON.stringify(s.length > 40 ? `${s.slice(0, 12)}…` : s)}) is ${ok}`, () => assert.equal(isHostName(s), ok));

  describe('checkPeerHost', () => {
    const hosts = { 'compute-2': 'https://10.0.0.2:8443', 'compute-3': 'https://10.0.0.3:8443' };

    it('accepts a [peer] hosts name', () => assert.equal(checkPeerHost({ hosts, url_template: '' }, 'compute-2', 'dest'), 'compute-2'));

    it('refuses a name outside [peer] hosts without a template, listing the names', () => {
      assert.throws(
        () => checkPeerHost({ hosts, url_template: '' }, 'compute-9', 'dest'),
        (e: unknown) =>
          e instanceof InvalidInput &&
          e.details?.field === 'dest' &&
          e.message === 'Invalid input received: dest: "compute-9" is not a configured peer ([peer] hosts names: compute-2, compute-3)',
      );
      assert.throws(() => checkPeerHost({ hosts: {}, url_template: '' }, 'x', 'dest'), /\(\[peer\] hosts names: none\)/);
    });

    it('does not take an inherited property name as a configured peer', () => {
      assert.throws(() => checkPeerHost({ hosts, url_template: '' }, 'constructor', 'dest'), InvalidInput);
      assert.throws(() => checkPeerHost({ hosts, url_template: '' }, '__proto__', 'dest'), InvalidInput);
    });

    it('with a template, accepts a plain host name or address, and refuses anything else', () => {
      const peer = { hosts: {}, url_template: 'https://{host}:8443' };
      assert.equal(checkPeerHost(peer, 'compute-7', 'source'), 'compute-7');
      assert.equal(checkPeerHost(peer, '10.1.2.3', 'source'), '10.1.2.3');
      assert.throws(
        () => checkPeerHost(peer, '127.0.0.1:9999/x?', 'source'),
        (e: unknown) => e instanceof InvalidInput && /neither a \[peer\] hosts name nor a plain host name or IP address/.test(e.message),
      );
    });

    it('refuses a missing or non-string host as required', () => {
      for (const v of [undefined, null, '', 7, {}]) {
        assert.throws(() => checkPeerHost({ hosts, url_template: '' }, v, 'dest'), {
          message: 'Invalid input received: dest: required: the host name of a peer',
        });
      }
    });

    it('shows at most 80 characters of a refused name', () => {
      assert.throws(
        () => checkPeerHost({ hosts, url_template: '' }, 'x'.repeat(500), 'dest'),
        (e: unknown) => e instanceof Error && e.message.includes(`"${'x'.repeat(80)}"`) && !e.message.includes('x'.repeat(81)),
      );
    });
  });

  it('templateUrl fills {host}, bracketing an IPv6 literal', () => {
    assert.equal(templateUrl('https://{host}:8443', 'compute-1'), 'https://compute-1:8443');
    assert.equal(templateUrl('https://{host}:8443', '10.0.0.1'), 'https://10.0.0.1:8443');
    assert.equal(templateUrl('https://{host}:8443', 'fd00::1'), 'https://[fd00::1]:8443');
  });

  describe('ownPeerNames', () => {
    it('is the host name alone when [peer] hosts does not name it', () => {
      assert.deepEqual(ownPeerNames(testConfig({ DEFAULT: { host: 'compute-1' }, peer: { hosts: { 'compute-2': 'https://10.0.0.2:8443' } } })), ['compute-1']);
    });

    it('adds every other name mapped to the same URL, ignoring trailing slashes', () => {
      const hosts = { 'compute-1': 'https://10.0.0.1:8443/', '10.0.0.1': 'https://10.0.0.1:8443', 'compute-2': 'https://10.0.0.2:8443' };
      assert.deepEqual(ownPeerNames(testConfig({ DEFAULT: { host: 'compute-1' }, peer: { hosts } })), ['compute-1', '10.0.0.1']);
    });
  });
});
