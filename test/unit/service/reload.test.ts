/**
 * service/reload: what a reload puts in force. Mutable options and the firmware map take the
 * file's values; every other option keeps its running value and is named; a new error in the
 * operator map refuses the file; secrets are never shown.
 */
import { strict as assert } from 'node:assert';
import { OPTIONS, testConfig } from '../../../src/config';
import { newMapErrors, planReload } from '../../../src/service/reload';
import type { FirmwareInventory } from '../../../src/firmware/types';

describe('service/reload', () => {
  const running = testConfig({
    api: { port: 7780, auth_token: 'old-token-0123456789' },
    peer: { timeout: 60 },
    'firmware:x86_64': { loader: '/a/CODE.fd', nvram_template: '/a/VARS.fd' },
  });

  const cases: [string, { file: Parameters<typeof testConfig>[0]; restartOnly: string[]; changed: string[] }][] = [
    [
      'nothing changed',
      {
        file: {
          api: { port: 7780, auth_token: 'old-token-0123456789' },
          peer: { timeout: 60 },
          'firmware:x86_64': { loader: '/a/CODE.fd', nvram_template: '/a/VARS.fd' },
        },
        restartOnly: [],
        changed: [],
      },
    ],
    [
      'a new firmware map, peer timeout and token take effect',
      {
        file: {
          api: { port: 7780, auth_token: 'new-token-0123456789' },
          peer: { timeout: 5 },
          'firmware:x86_64': { loader: '/b/CODE.fd', nvram_template: '/b/VARS.fd' },
        },
        restartOnly: [],
        changed: ['[api] auth_token', '[peer] timeout', '[firmware:x86_64]'],
      },
    ],
    [
      'the listen port and the NVRAM directory wait for a restart',
      {
        file: {
          api: { port: 9999, auth_token: 'old-token-0123456789' },
          nvram: { nvram_dir: '/x' },
          peer: { timeout: 60 },
          'firmware:x86_64': { loader: '/a/CODE.fd', nvram_template: '/a/VARS.fd' },
        },
        restartOnly: ['[api] port', '[nvram] nvram_dir'],
        changed: [],
      },
    ],
    [
      'a removed map section is a change',
      { file: { api: { port: 7780, auth_token: 'old-token-0123456789' }, peer: { timeout: 60 } }, restartOnly: [], changed: ['[firmware:x86_64]'] },
    ],
  ];
  for (const [name, { file, restartOnly, changed }] of cases) {
    it(name, () => {
      const plan = planReload(running, testConfig(file));
      assert.deepEqual(
        plan.restartOnly.map((c) => c.option),
        restartOnly,
      );
      assert.deepEqual(plan.changed, changed);
      for (const c of plan.restartOnly) {
        const [, sec, key] = /^\[(.+)\] (.+)$/.exec(c.option)!;
        assert.deepEqual(
          (plan.next as unknown as Record<string, Record<string, unknown>>)[sec][key],
          (running as unknown as Record<string, Record<string, unknown>>)[sec][key],
        );
      }
      assert.ok(Object.isFrozen(plan.next) && Object.isFrozen(plan.next.api));
    });
  }

  it('shows the running and file values of a restart-only option, and never a secret', () => {
    const plan = planReload(
      running,
      testConfig({
        api: { port: 9999, auth_token: 'old-token-0123456789' },
        DEFAULT: { host: 'elsewhere' },
        peer: { timeout: 60 },
        'firmware:x86_64': { loader: '/a/CODE.fd', nvram_template: '/a/VARS.fd' },
      }),
    );
    assert.deepEqual(
      plan.restartOnly.find((c) => c.option === '[api] port'),
      { option: '[api] port', running: '7780', file: '9999' },
    );
    assert.equal(plan.next.DEFAULT.host, running.DEFAULT.host);
    const secrets = OPTIONS.filter((o) => o.secret);
    assert.ok(secrets.length >= 2);
    // A restart-only secret ([replica] secret_key: the S3 client is built at start) is named in
    // the log when the file changes it, with both values masked.
    const restartOnlySecrets = secrets.filter((o) => !o.mutable);
    assert.deepEqual(
      restartOnlySecrets.map((o) => `[${o.section}] ${o.key}`),
      ['[replica] secret_key'],
    );
    const rotated = planReload(running, testConfig({ replica: { secret_key: 'a-new-secret' } }));
    assert.deepEqual(
      rotated.restartOnly.find((c) => c.option === '[replica] secret_key'),
      { option: '[replica] secret_key', running: '<secret>', file: '<secret>' },
    );
  });

  it('refuses only map errors the running inventory does not already have', () => {
    const inv = (messages: string[]): FirmwareInventory => ({
      entries: [],
      sizes: {},
      problems: messages.map((m) => ({ severity: 'error' as const, source: 'config:[firmware:x86_64]', arch: 'x86_64', message: m })),
    });
    const descriptorWarning: FirmwareInventory = {
      entries: [],
      sizes: {},
      problems: [{ severity: 'warning', source: 'descriptor:/x.json', message: 'skipped' }],
    };
    assert.deepEqual(newMapErrors(inv(['old problem']), inv(['old problem', 'skipped: /b/CODE.fd does not exist'])), [
      '[firmware:x86_64]: skipped: /b/CODE.fd does not exist',
    ]);
    assert.deepEqual(newMapErrors(inv([]), descriptorWarning), []);
  });
});
