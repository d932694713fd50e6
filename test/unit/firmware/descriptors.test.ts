/**
 * firmware/descriptors: QEMU firmware descriptors (docs/interop/firmware.json) read from real
 * directories: ordering by base name, shadowing, masking, and which descriptors become
 * entries (UEFI flash, split or stateless, raw) and which are skipped with a warning.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { descriptorEntries, listDescriptors } from '../../../src/firmware/descriptors';
import type { FirmwareProblem } from '../../../src/firmware/types';

const split = (over: Record<string, unknown> = {}) => ({
  'interface-types': ['uefi'],
  mapping: { device: 'flash', executable: { filename: '/fw/CODE.fd', format: 'raw' }, 'nvram-template': { filename: '/fw/VARS.fd', format: 'raw' } },
  targets: [{ architecture: 'x86_64', machines: ['pc-q35-*'] }],
  features: ['acpi-s3', 'secure-boot', 'requires-smm', 'enrolled-keys'],
  ...over,
});

describe('firmware/descriptors', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-desc-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (sub: string, name: string, content: unknown) => {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const f = path.join(dir, sub, name);
    fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
    return f;
  };
  const entriesOf = (content: unknown) => {
    const problems: FirmwareProblem[] = [];
    const f = write('d', 'x.json', content);
    return { entries: descriptorEntries('x.json', f, 100, problems), problems, file: f };
  };

  describe('listDescriptors', () => {
    it('sorts by base name across directories, later directories shadowing, empty files masking', () => {
      write('sys', '50-b.json', split());
      write('sys', '60-c.json', split());
      write('sys', '40-masked.json', split());
      write('etc', '10-a.json', split());
      const c = write('etc', '60-c.json', split());
      const mask = write('etc', '40-masked.json', '');
      write('etc', 'notes.txt', 'x');
      const problems: FirmwareProblem[] = [];
      const got = listDescriptors([path.join(dir, 'sys'), path.join(dir, 'etc'), path.join(dir, 'absent')], problems);
      assert.deepEqual(
        got.map((d) => [d.name, path.relative(dir, d.file)]),
        [
          ['10-a.json', 'etc/10-a.json'],
          ['50-b.json', 'sys/50-b.json'],
          ['60-c.json', path.relative(dir, c)],
        ],
      );
      assert.deepEqual(problems, [
        { severity: 'warning', source: `descriptor:${mask}`, message: 'empty file masks 40-masked.json in less specific directories' },
      ]);
    });

    it('skips a dangling symlink without a problem', () => {
      fs.mkdirSync(path.join(dir, 'd'));
      fs.symlinkSync(path.join(dir, 'nowhere.json'), path.join(dir, 'd', '30-dangling.json'));
      const problems: FirmwareProblem[] = [];
      assert.deepEqual(listDescriptors([path.join(dir, 'd')], problems), []);
      assert.deepEqual(problems, []);
    });
  });

  describe('descriptorEntries', () => {
    it('reads a split UEFI descriptor with its features', () => {
      const { entries, problems, file } = entriesOf(split());
      assert.deepEqual(problems, []);
      assert.deepEqual(entries, [
        {
          source: `descriptor:${file}`,
          name: 'x.json',
          arch: 'x86_64',
          machines: ['pc-q35-*'],
          executable: '/fw/CODE.fd',
          nvramTemplate: '/fw/VARS.fd',
          secureBoot: true,
          requiresSmm: true,
          enrolledKeys: true,
          stateless: false,
          rank: 100,
        },
      ]);
    });

    it('gives one entry per target architecture', () => {
      const { entries } = entriesOf(split({ targets: [{ architecture: 'x86_64', machines: ['pc-q35-*'] }, { architecture: 'i686' }, { machines: ['x'] }] }));
      assert.deepEqual(
        entries.map((e) => [e.arch, e.machines]),
        [
          ['x86_64', ['pc-q35-*']],
          ['i686', []],
        ],
      );
    });

    it('reads a stateless descriptor as an entry without template, ignoring a template it names', () => {
      const d = split();
      const { entries } = entriesOf({ ...d, mapping: { ...d.mapping, mode: 'stateless' } });
      assert.deepEqual(
        entries.map((e) => [e.stateless, e.nvramTemplate]),
        [[true, null]],
      );
    });

    it('ignores a non-UEFI descriptor silently (BIOS descriptors are normal on a host)', () => {
      const { entries, problems } = entriesOf(split({ 'interface-types': ['bios'] }));
      assert.deepEqual(entries, []);
      assert.deepEqual(problems, []);
    });

    const d = split();
    const skipped: Array<[string, unknown, string]> = [
      ['invalid JSON', '{"interface-types": [', 'skipped: not valid JSON'],
      ['JSON that is not an object', 'null', 'skipped: not a JSON object'],
      ['a memory mapping', { ...d, mapping: { ...d.mapping, device: 'memory' } }, "skipped: mapping device 'memory' is not flash"],
      ['combined mode', { ...d, mapping: { ...d.mapping, mode: 'combined' } }, "skipped: flash mode 'combined' is not supported"],
      [
        'a qcow2 executable',
        { ...d, mapping: { ...d.mapping, executable: { filename: '/fw/CODE.qcow2', format: 'qcow2' } } },
        "skipped: executable format 'qcow2' (libvirt 9.0 maps raw flash only)",
      ],
      [
        'a qcow2 template',
        { ...d, mapping: { ...d.mapping, 'nvram-template': { filename: '/fw/VARS.qcow2', format: 'qcow2' } } },
        "skipped: nvram-template format 'qcow2' (libvirt 9.0 maps raw flash only)",
      ],
      [
        'a split mapping without template',
        { ...d, mapping: { device: 'flash', executable: { filename: '/fw/C' } } },
        'skipped: missing executable or nvram-template filename',
      ],
      ['no targets', { ...d, targets: [] }, 'skipped: no targets with an architecture'],
    ];
    for (const [title, content, message] of skipped) {
      it(`skips ${title} with a warning`, () => {
        const { entries, problems, file } = entriesOf(content);
        assert.deepEqual(entries, []);
        assert.equal(problems.length, 1);
        assert.equal(problems[0].severity, 'warning');
        assert.equal(problems[0].source, `descriptor:${file}`);
        assert.ok(problems[0].message.startsWith(message), problems[0].message);
      });
    }

    it('takes files without a format as raw', () => {
      const { entries } = entriesOf({ ...d, mapping: { device: 'flash', executable: { filename: '/fw/C' }, 'nvram-template': { filename: '/fw/V' } } });
      assert.equal(entries.length, 1);
    });
  });
});
