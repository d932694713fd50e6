/**
 * firmware/operatorMap: `[firmware:<arch>]` sections become plain, secure and stateless
 * entries in a fixed order with consecutive ranks; a half-set pair is an error for that arch
 * while what is complete is still served. Sections come from the real config parser.
 */
import { strict as assert } from 'node:assert';
import { testConfig } from '../../../src/config';
import { defaultMachines, operatorMapEntries } from '../../../src/firmware/operatorMap';
import type { FirmwareProblem } from '../../../src/firmware/types';

const mapOf = (sections: Record<string, Record<string, unknown>>) =>
  testConfig(Object.fromEntries(Object.entries(sections).map(([arch, s]) => [`firmware:${arch}`, s]))).firmwareMap;

describe('firmware/operatorMap', () => {
  const machines: Array<[string, boolean, string[]]> = [
    ['x86_64', false, ['pc-q35-*', 'pc-i440fx-*']],
    ['x86_64', true, ['pc-q35-*']],
    ['i686', true, ['pc-q35-*']],
    ['aarch64', false, ['virt-*']],
    ['armv7l', true, ['virt-*']],
    ['riscv64', false, ['*']],
  ];
  for (const [arch, secure, want] of machines) {
    it(`default machines of ${arch}${secure ? ' (secure)' : ''} are ${want.join(' ')}`, () => assert.deepEqual(defaultMachines(arch, secure), want));
  }

  it('builds plain, secure and stateless entries in that order, ranked from firstRank', () => {
    const problems: FirmwareProblem[] = [];
    const entries = operatorMapEntries(
      mapOf({
        x86_64: {
          loader: '/fw/CODE.fd',
          nvram_template: '/fw/VARS.fd',
          secure_loader: '/fw/CODE.secboot.fd',
          secure_nvram_template: '/fw/VARS.ms.fd',
          secure_enrolled_keys: true,
          stateless_loader: '/fw/CODE.stateless.fd',
        },
      }),
      problems,
      5,
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      entries.map((e) => [e.source, e.executable, e.nvramTemplate, e.secureBoot, e.stateless, e.enrolledKeys, e.rank, e.machines.join(' ')]),
      [
        ['config:[firmware:x86_64]', '/fw/CODE.fd', '/fw/VARS.fd', false, false, false, 5, 'pc-q35-* pc-i440fx-*'],
        ['config:[firmware:x86_64] secure', '/fw/CODE.secboot.fd', '/fw/VARS.ms.fd', true, false, true, 6, 'pc-q35-*'],
        ['config:[firmware:x86_64] stateless', '/fw/CODE.stateless.fd', null, false, true, false, 7, 'pc-q35-* pc-i440fx-*'],
      ],
    );
    assert.ok(entries.every((e) => e.arch === 'x86_64' && e.name === 'config:[firmware:x86_64]'));
  });

  it('orders architectures by name and keeps ranks consecutive across them', () => {
    const entries = operatorMapEntries(mapOf({ x86_64: { loader: '/x/C', nvram_template: '/x/V' }, aarch64: { loader: '/a/C', nvram_template: '/a/V' } }), []);
    assert.deepEqual(
      entries.map((e) => [e.arch, e.rank]),
      [
        ['aarch64', 0],
        ['x86_64', 1],
      ],
    );
  });

  const broken: Array<[string, Record<string, unknown>, string, string]> = [
    ['a loader without template', { loader: '/C' }, 'config:[firmware:x86_64]', 'loader and nvram_template must be set together'],
    ['a template without loader', { nvram_template: '/V' }, 'config:[firmware:x86_64]', 'loader and nvram_template must be set together'],
    [
      'a section with no loader at all',
      { secure_loader: '/S', secure_nvram_template: '/SV' },
      'config:[firmware:x86_64]',
      'loader and nvram_template are not set (and there is no stateless_loader)',
    ],
    [
      'a secure loader without template',
      { loader: '/C', nvram_template: '/V', secure_loader: '/S' },
      'config:[firmware:x86_64] secure',
      'secure_loader and secure_nvram_template must be set together',
    ],
  ];
  for (const [title, section, source, message] of broken) {
    it(`reports ${title} as an error of that arch, serving what is complete`, () => {
      const problems: FirmwareProblem[] = [];
      const entries = operatorMapEntries(mapOf({ x86_64: section }), problems);
      assert.deepEqual(problems, [{ severity: 'error', source, arch: 'x86_64', message }]);
      for (const e of entries) assert.ok(e.executable && (e.stateless || e.nvramTemplate), 'only complete entries');
    });
  }

  it('serves the secure pair of a section whose plain pair is missing', () => {
    const entries = operatorMapEntries(mapOf({ x86_64: { secure_loader: '/S', secure_nvram_template: '/SV' } }), []);
    assert.deepEqual(
      entries.map((e) => e.source),
      ['config:[firmware:x86_64] secure'],
    );
  });

  it('takes a stateless-only section without an error', () => {
    const problems: FirmwareProblem[] = [];
    const entries = operatorMapEntries(mapOf({ aarch64: { stateless_loader: '/A/CODE.fd' } }), problems);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      entries.map((e) => [e.stateless, e.nvramTemplate, e.machines.join(' ')]),
      [[true, null, 'virt-*']],
    );
  });

  it('uses the machines and secure_machines the operator set', () => {
    const entries = operatorMapEntries(
      mapOf({
        x86_64: {
          loader: '/C',
          nvram_template: '/V',
          machines: ['pc-q35-8.*'],
          secure_loader: '/S',
          secure_nvram_template: '/SV',
          secure_machines: ['pc-q35-9.*'],
        },
      }),
      [],
    );
    assert.deepEqual(
      entries.map((e) => e.machines),
      [['pc-q35-8.*'], ['pc-q35-9.*']],
    );
  });

  it('carries requires_smm per entry: the plain flag for plain and stateless, the secure one for secure', () => {
    const entries = operatorMapEntries(
      mapOf({
        x86_64: {
          loader: '/C',
          nvram_template: '/V',
          requires_smm: false,
          secure_loader: '/S',
          secure_nvram_template: '/SV',
          secure_requires_smm: true,
          stateless_loader: '/L',
        },
      }),
      [],
    );
    assert.deepEqual(
      entries.map((e) => e.requiresSmm),
      [false, true, false],
    );
  });
});
