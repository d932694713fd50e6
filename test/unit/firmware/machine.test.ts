import { strict as assert } from 'node:assert';
import { globMatch, hostArch, machineMatches } from '../../../src/firmware/machine';

describe('firmware/machine: globs and machine aliases', () => {
  const globs: [string, string, boolean][] = [
    ['pc-q35-*', 'pc-q35-7.2', true],
    ['pc-q35-*', 'pc-i440fx-7.2', false],
    ['pc-q35-?.?', 'pc-q35-7.2', true],
    ['pc-q35-?.?', 'pc-q35-10.0', false],
    ['virt-[0-9]*', 'virt-7.2', true],
    ['virt-[!0-9]*', 'virt-7.2', false],
    ['pc.q35', 'pcxq35', false],
    ['*', '', true],
  ];
  for (const [g, s, want] of globs) {
    it(`globMatch(${JSON.stringify(g)}, ${JSON.stringify(s)}) is ${want}`, () => assert.equal(globMatch(g, s), want));
  }

  const machines: [string[], string, boolean][] = [
    [['pc-q35-*'], 'q35', true],
    [['pc-q35-*'], 'pc', false],
    [['pc-i440fx-*'], 'pc', true],
    [['virt-*'], 'virt', true],
    [['virt-*'], 'pc-q35-7.2', false],
    [['pc-q35-7.2'], 'pc-q35-7.2', true],
  ];
  for (const [g, m, want] of machines) {
    it(`machineMatches(${JSON.stringify(g)}, ${JSON.stringify(m)}) is ${want}`, () => assert.equal(machineMatches(g, m), want));
  }

  const more: [string[], string, boolean][] = [
    [['pc-i440fx-*'], 'q35', false],
    [['pc-q35-[0-9]*'], 'q35', true],
    [['*'], 'pseries', true],
    [['virt-*'], 'sbsa-ref', false],
    [[], 'q35', false],
  ];
  for (const [g, m, want] of more) {
    it(`machineMatches(${JSON.stringify(g)}, ${JSON.stringify(m)}) is ${want} (alias probed as <prefix>99.0)`, () => assert.equal(machineMatches(g, m), want));
  }

  const arches: [string, string][] = [
    ['x64', 'x86_64'],
    ['arm64', 'aarch64'],
    ['ia32', 'i686'],
    ['s390x', 's390x'],
    ['riscv64', 'riscv64'],
  ];
  for (const [node, nova] of arches) {
    it(`maps process.arch ${node} to the Nova architecture ${nova}`, () => assert.equal(hostArch(node), nova));
  }

  it('maps this process architecture without an argument', () => {
    const want = ({ x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' } as Record<string, string>)[process.arch] ?? process.arch;
    assert.equal(hostArch(), want);
  });
});
