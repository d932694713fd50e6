/**
 * firmware/entryChecks: the file checks on a firmware entry through an injected size
 * function (no I/O here): missing files, the CODE/VARS size pairing of the known edk2 builds,
 * SMM for x86 Secure Boot, and agreement of unknown-size templates across one executable.
 */
import { strict as assert } from 'node:assert';
import { CODE_BUILDS, KNOWN_VARS_SIZES, checkTemplateConsistency, validateEntry } from '../../../src/firmware/entryChecks';
import type { FirmwareEntry } from '../../../src/firmware/types';

const MIB = 1024 * 1024;
const entry = (over: Partial<FirmwareEntry> = {}): FirmwareEntry => ({
  source: 'config:[firmware:x86_64]',
  name: 'config:[firmware:x86_64]',
  arch: 'x86_64',
  machines: ['pc-q35-*'],
  executable: '/fw/CODE.fd',
  nvramTemplate: '/fw/VARS.fd',
  secureBoot: false,
  requiresSmm: false,
  enrolledKeys: false,
  stateless: false,
  rank: 0,
  ...over,
});
const sizes =
  (m: Record<string, number>) =>
  (p: string): number | null =>
    m[p] ?? null;

describe('firmware/entryChecks', () => {
  it('knows the three edk2 builds by CODE size, and their VARS sizes', () => {
    assert.deepEqual(
      [...CODE_BUILDS.entries()].map(([code, r]) => [code, r.build, r.vars]),
      [
        [1_966_080, 'OVMF 2M', 131_072],
        [3_653_632, 'OVMF 4M', 540_672],
        [64 * MIB, 'AAVMF 64M', 64 * MIB],
      ],
    );
    assert.deepEqual(
      [...KNOWN_VARS_SIZES].sort((a, b) => a - b),
      [131_072, 540_672, 64 * MIB],
    );
  });

  const pairs: Array<[string, number, number, boolean]> = [
    ['4M code with a 4M varstore', 3_653_632, 540_672, true],
    ['2M code with a 2M varstore', 1_966_080, 131_072, true],
    ['AAVMF 64M code with a 64M varstore', 64 * MIB, 64 * MIB, true],
    ['2M code with a 4M varstore', 1_966_080, 540_672, false],
    ['4M code with a 2M varstore', 3_653_632, 131_072, false],
  ];
  for (const [title, code, vars, ok] of pairs) {
    it(`${ok ? 'takes' : 'refuses'} ${title}`, () => {
      const c = validateEntry(entry(), sizes({ '/fw/CODE.fd': code, '/fw/VARS.fd': vars }));
      assert.equal(c.usable, ok);
      assert.equal(c.varsSize, vars);
      if (ok) assert.deepEqual(c.problems, []);
      else {
        assert.equal(c.problems.length, 1);
        assert.equal(c.problems[0].severity, 'error');
        assert.match(
          c.problems[0].message,
          new RegExp(
            `^template size mismatch: /fw/CODE.fd is a OVMF \\dM build \\(${code} bytes\\) that needs a \\d+-byte varstore, but /fw/VARS.fd is ${vars} bytes$`,
          ),
        );
      }
    });
  }

  it('keeps an entry of unknown code size, with a warning that the template was not checked', () => {
    const c = validateEntry(entry(), sizes({ '/fw/CODE.fd': 2_000_000, '/fw/VARS.fd': 262_144 }));
    assert.equal(c.usable, true);
    assert.deepEqual(
      c.problems.map((p) => [p.severity, p.message]),
      [['warning', 'unknown code size: /fw/CODE.fd is 2000000 bytes, not a known edk2 build; template size (262144 bytes) not checked against it']],
    );
  });

  it('a missing file named by the operator is an error; by a descriptor, a warning', () => {
    const map = validateEntry(entry(), sizes({ '/fw/VARS.fd': 540_672 }));
    assert.equal(map.usable, false);
    assert.deepEqual(
      map.problems.map((p) => [p.severity, p.message]),
      [['error', 'skipped: /fw/CODE.fd does not exist or is not readable']],
    );
    assert.equal(map.varsSize, null, 'no size without both files');
    const desc = validateEntry(entry({ source: 'descriptor:/usr/share/qemu/firmware/60.json' }), sizes({ '/fw/CODE.fd': 3_653_632 }));
    assert.equal(desc.usable, false);
    assert.deepEqual(
      desc.problems.map((p) => [p.severity, p.message, p.source]),
      [['warning', 'skipped: /fw/VARS.fd does not exist or is not readable', 'descriptor:/usr/share/qemu/firmware/60.json']],
    );
  });

  it('checks no template for a stateless entry', () => {
    const c = validateEntry(entry({ nvramTemplate: null, stateless: true }), sizes({ '/fw/CODE.fd': 3_653_632 }));
    assert.deepEqual(c, { usable: true, problems: [], varsSize: null });
  });

  const smm: Array<[string, Partial<FirmwareEntry>, boolean]> = [
    ['x86_64 Secure Boot with SMM', { secureBoot: true, requiresSmm: true }, true],
    ['x86_64 Secure Boot without SMM', { secureBoot: true, requiresSmm: false }, false],
    ['i686 Secure Boot without SMM', { arch: 'i686', secureBoot: true }, false],
    ['aarch64 Secure Boot without SMM', { arch: 'aarch64', secureBoot: true }, true],
    ['x86_64 without Secure Boot or SMM', {}, true],
  ];
  for (const [title, over, ok] of smm) {
    it(`${ok ? 'takes' : 'refuses'} ${title}`, () => {
      const c = validateEntry(entry(over), sizes({ '/fw/CODE.fd': 3_653_632, '/fw/VARS.fd': 540_672 }));
      assert.equal(c.usable, ok);
      if (!ok) assert.match(c.problems[0].message, /^Secure Boot on x86 needs SMM/);
    });
  }

  describe('checkTemplateConsistency', () => {
    const a = entry({ source: 'a', nvramTemplate: '/fw/A.fd' });
    const b = entry({ source: 'b', nvramTemplate: '/fw/B.fd' });
    const known = entry({ source: 'k', nvramTemplate: '/fw/K.fd' });

    it('flags every unknown-size template of an executable whose templates differ, not the known-size one', () => {
      const out = checkTemplateConsistency([
        { entry: a, varsSize: 200_000 },
        { entry: b, varsSize: 300_000 },
        { entry: known, varsSize: 540_672 },
      ]);
      assert.deepEqual([...out.keys()], [a, b]);
      assert.equal(
        out.get(a)?.message,
        'template /fw/A.fd is 200000 bytes, not a known edk2 varstore size, and templates used with /fw/CODE.fd differ in size (200000, 300000, 540672 bytes)',
      );
      assert.equal(out.get(a)?.severity, 'error');
    });

    it('accepts unknown-size templates that agree, and entries of different executables', () => {
      assert.equal(
        checkTemplateConsistency([
          { entry: a, varsSize: 200_000 },
          { entry: b, varsSize: 200_000 },
        ]).size,
        0,
      );
      assert.equal(
        checkTemplateConsistency([
          { entry: a, varsSize: 200_000 },
          { entry: { ...b, executable: '/fw/OTHER.fd' }, varsSize: 300_000 },
        ]).size,
        0,
      );
    });

    it('ignores entries whose size is unknown (a file was missing)', () => {
      assert.equal(
        checkTemplateConsistency([
          { entry: a, varsSize: 200_000 },
          { entry: b, varsSize: null },
        ]).size,
        0,
      );
    });
  });
});
