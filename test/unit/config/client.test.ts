/**
 * config/client: where the online CLI finds the sidecar and its token (flag, environment,
 * configuration file, default), per value, first found wins.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clientSettings, urlOf } from '../../../src/config/client';
import { testConfig } from '../../../src/config';

describe('config/client', () => {
  let dir: string;
  let conf: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-client-'));
    conf = path.join(dir, 'shim.conf');
    fs.writeFileSync(conf, '[api]\nhost = 0.0.0.0\nport = 7790\nauth_token = from-file\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const CASES: [string, Parameters<typeof clientSettings>[0], NodeJS.ProcessEnv, { url: string; token: string; source: string }][] = [
    [
      'flags win over everything',
      { url: 'http://h:1/', token: 't', configFile: '' },
      { NOVA_UEFI_SHIM_URL: 'http://e:2', NOVA_UEFI_SHIM_TOKEN: 'e' },
      { url: 'http://h:1', token: 't', source: 'the command line' },
    ],
    [
      'then the environment',
      {},
      { NOVA_UEFI_SHIM_URL: 'http://e:2', NOVA_UEFI_SHIM_TOKEN: 'e' },
      { url: 'http://e:2', token: 'e', source: 'NOVA_UEFI_SHIM_URL' },
    ],
    [
      'a token from the environment, the URL from the default',
      {},
      { NOVA_UEFI_SHIM_TOKEN: 'e' },
      { url: 'http://127.0.0.1:7780', token: 'e', source: 'the default' },
    ],
  ];
  for (const [name, opts, env, want] of CASES) {
    it(name, function () {
      if (fs.existsSync('/etc/nova-uefi-shim/nova-uefi-shim.conf')) this.skip(); // a packaged host: its file takes part
      const got = clientSettings({ ...opts, configFile: opts.configFile || undefined }, env);
      assert.deepEqual(got, want);
    });
  }

  it('then the config file (--config-file or NOVA_UEFI_SHIM_CONFIG): a wildcard listener is reached on loopback', () => {
    assert.deepEqual(clientSettings({ configFile: conf }, {}), { url: 'http://127.0.0.1:7790', token: 'from-file', source: conf });
    assert.deepEqual(clientSettings({}, { NOVA_UEFI_SHIM_CONFIG: conf }), { url: 'http://127.0.0.1:7790', token: 'from-file', source: conf });
    assert.equal(clientSettings({ configFile: conf }, { NOVA_UEFI_SHIM_TOKEN: 'e' }).token, 'e', 'the environment outranks the file');
  });

  it('refuses a named config file that does not load', () => {
    assert.throws(() => clientSettings({ configFile: path.join(dir, 'nope.conf') }, {}), /nope\.conf/);
  });

  it('builds https URLs for a TLS listener and brackets IPv6 hosts', () => {
    assert.equal(urlOf(testConfig({ api: { host: '::', port: 8443, tls_cert_file: '/c.pem', tls_key_file: '/k.pem' } })), 'https://[::1]:8443');
  });
});
