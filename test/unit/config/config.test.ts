import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigFile, buildConfig, ConfigError, testConfig } from '../../../src/config';

function write(text: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-cfg-'));
  const f = path.join(d, 'shim.conf');
  fs.writeFileSync(f, text);
  return f;
}

describe('config', () => {
  it('uses the documented defaults without a file', () => {
    const c = buildConfig({}, 'defaults');
    assert.equal(c.api.host, '127.0.0.1');
    assert.equal(c.api.port, 7780);
    assert.equal(c.hypervisor.backend, 'embedded');
    assert.equal(c.nvram.nvram_dir, '/var/lib/libvirt/qemu/nvram');
    assert.equal(c.nvram.mode, 0o600);
    assert.equal(c.DEFAULT.instance_name_template, 'instance-%08x');
    assert.deepEqual(c.firmware.descriptor_dirs, ['/usr/share/qemu/firmware', '/etc/qemu/firmware']);
    assert.ok(Object.isFrozen(c.api));
  });

  it('reads an oslo-style file with dicts, lists, octal modes and firmware map sections', () => {
    const f = write(`[DEFAULT]
host = compute7
[api]
port = 8001
auth_token = s3cret-s3cret-s3cret
[nvram]
mode = 0640
owner = libvirt-qemu
[libvirt]
hw_machine_type = x86_64=q35,aarch64=virt
[firmware]
descriptor_dirs = /a, /b
[firmware:x86_64]
loader = /usr/share/OVMF/OVMF_CODE_4M.fd
nvram_template = /usr/share/OVMF/OVMF_VARS_4M.fd
requires_smm = false
[peer]
hosts = compute1=http://127.0.0.1:7781,10.0.0.2=http://127.0.0.1:7782
`);
    const c = loadConfigFile(f);
    assert.equal(c.DEFAULT.host, 'compute7');
    assert.equal(c.api.port, 8001);
    assert.equal(c.nvram.mode, 0o640);
    assert.deepEqual(c.libvirt.hw_machine_type, { x86_64: 'q35', aarch64: 'virt' });
    assert.deepEqual(c.firmware.descriptor_dirs, ['/a', '/b']);
    assert.equal(c.firmwareMap.x86_64.loader, '/usr/share/OVMF/OVMF_CODE_4M.fd');
    assert.equal(c.firmwareMap.x86_64.requires_smm, false);
    assert.deepEqual(c.peer.hosts, { compute1: 'http://127.0.0.1:7781', '10.0.0.2': 'http://127.0.0.1:7782' });
  });

  it('lists every problem at once, naming section and key', () => {
    const f = write(`[api]
port = seventy
bogus = 1
[hypervisor]
backend = xen
[nvram]
mode = rw
[nosuch]
x = 1
[firmware:x86_64]
loadr = /x
`);
    try {
      loadConfigFile(f);
      assert.fail('expected ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      const msg = e.problems.join('\n');
      for (const want of ['[api] port', '[api] bogus', '[hypervisor] backend', '[nvram] mode', '[nosuch]', '[firmware:x86_64] loadr'])
        assert.ok(msg.includes(want), `missing ${want} in\n${msg}`);
    }
  });

  const crossProblems: [string, Record<string, Record<string, string>>, string][] = [
    ['a certificate without its key', { api: { tls_cert_file: '/etc/x.pem' } }, '[api] tls_cert_file and tls_key_file must be set together'],
    ['a key without its certificate', { api: { tls_key_file: '/etc/x.key' } }, '[api] tls_cert_file and tls_key_file must be set together'],
    ['a peer URL that is not http(s)', { peer: { hosts: 'compute2=ftp://x' } }, "[peer] hosts: 'compute2=ftp://x' is not an http:// or https:// URL"],
    ['a URL template without a scheme', { peer: { url_template: '{host}:7780' } }, "[peer] url_template: '{host}:7780' is not an http:// or https:// URL"],
  ];
  for (const [name, raw, problem] of crossProblems) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => buildConfig(raw, 't'),
        (e: unknown) => e instanceof ConfigError && e.problems.includes(problem),
      );
    });
  }

  it('accepts https peers with a CA file and an API certificate with its key', () => {
    const c = buildConfig(
      { api: { tls_cert_file: '/etc/c.pem', tls_key_file: '/etc/c.key' }, peer: { hosts: 'compute2=https://compute2:7780', ca_file: '/etc/ca.pem' } },
      't',
    );
    assert.equal(c.peer.ca_file, '/etc/ca.pem');
    assert.equal(c.api.tls_key_file, '/etc/c.key');
  });

  it('builds test configs from objects', () => {
    const c = testConfig({ libvirt: { hw_machine_type: { x86_64: 'q35' } }, nvram: { mode: 0o644 } });
    assert.deepEqual(c.libvirt.hw_machine_type, { x86_64: 'q35' });
    assert.equal(c.nvram.mode, 0o644);
  });
});

describe('config: [replica]', () => {
  it('defaults to no replicas, keep 5, interval 300 s', () => {
    const c = buildConfig({}, 'defaults');
    assert.equal(c.replica.backend, 'none');
    assert.equal(c.replica.keep, 5);
    assert.equal(c.replica.interval, 300);
  });

  const cases: [string, { given: Record<string, unknown>; want: RegExp[] }][] = [
    [
      's3 without its options lists each missing one',
      {
        given: { backend: 's3' },
        want: [/encryption_key_file: required/, /endpoint: required/, /bucket: required/, /access_key: required/, /secret_key_file \(or secret_key\)/],
      },
    ],
    ['directory without a path', { given: { backend: 'directory', encryption_key_file: '/k' }, want: [/\[replica\] path: required/] }],
    [
      'an endpoint that is not a URL',
      {
        given: { backend: 's3', encryption_key_file: '/k', endpoint: 'swift:8080', bucket: 'b', access_key: 'a', secret_key: 's' },
        want: [/is not an http\(s\) URL/],
      },
    ],
  ];
  for (const [name, { given, want }] of cases) {
    it(`fails at start-up: ${name}`, () => {
      assert.throws(
        () => testConfig({ replica: given }),
        (e: unknown) => e instanceof ConfigError && want.every((w) => e.problems.some((p) => w.test(p))),
      );
    });
  }
});
