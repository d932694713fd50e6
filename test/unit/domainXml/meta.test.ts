/**
 * Meta-tests over the golden fixtures (STYLE R13): every FirmwareSelection field that
 * affects the XML takes each of its values in some fixture, and each such field really
 * changes the output, while the bookkeeping fields do not.
 */
import { strict as assert } from 'node:assert';
import { buildDomainXml } from '../../../src/domainXml/build';
import type { FirmwareSelection } from '../../../src/firmware/types';
import type { DomainSpec } from '../../../src/domainXml/types';
import { xmlDiff } from './xmlEqual';
import { goldenCases } from './fixtures';

const cases = goldenCases();
const selections = cases.map((c) => c.spec.firmware).filter((f): f is FirmwareSelection => f !== null);

describe('domainXml golden fixtures: coverage of FirmwareSelection fields', () => {
  it('includes a BIOS case (firmware null) and a base-XML case for both BIOS and UEFI', () => {
    assert.ok(cases.some((c) => c.spec.firmware === null && !c.basePath));
    assert.ok(cases.some((c) => c.spec.firmware === null && c.basePath));
    assert.ok(cases.some((c) => c.spec.firmware !== null && c.basePath));
  });

  const coverage: { field: keyof FirmwareSelection; values: string[] }[] = [
    { field: 'secure', values: ['true', 'false'] },
    { field: 'requires_smm', values: ['true', 'false'] },
    { field: 'stateless', values: ['true', 'false'] },
    { field: 'nvram_template', values: ['null', 'path'] },
    { field: 'loader', values: ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE_4M.ms.fd', '/usr/share/AAVMF/AAVMF_CODE.fd'] },
  ];
  for (const { field, values } of coverage) {
    it(`covers ${field} = ${values.join(' / ')}`, () => {
      const seen = new Set(selections.map((s) => (field === 'nvram_template' ? (s[field] === null ? 'null' : 'path') : String(s[field]))));
      for (const v of values) assert.ok(seen.has(v), `no fixture has ${field} = ${v}`);
    });
  }

  const q35 = cases.find((c) => c.name === 'q35-uefi')!.spec;
  const mutate = (fw: Partial<FirmwareSelection>, extra: Partial<DomainSpec> = {}): DomainSpec => ({ ...q35, ...extra, firmware: { ...q35.firmware!, ...fw } });

  const affecting: { field: string; spec: DomainSpec; path: string }[] = [
    { field: 'loader', spec: mutate({ loader: '/other/CODE.fd' }), path: '/domain/os[1]/loader[1]/text()' },
    { field: 'nvram_template', spec: mutate({ nvram_template: '/other/VARS.fd' }), path: '/domain/os[1]/nvram[1]/@template' },
    { field: 'secure', spec: mutate({ secure: true }), path: '/domain/os[1]/loader[1]/@secure' },
    { field: 'requires_smm', spec: mutate({ requires_smm: true }), path: '/domain/features[1]/smm[1]' },
    { field: 'stateless', spec: mutate({ stateless: true }, { nvramPath: null }), path: '/domain/os[1]/loader[1]/@stateless' },
  ];
  for (const a of affecting) {
    it(`changes the XML at ${a.path} when ${a.field} changes`, () => {
      const d = xmlDiff(buildDomainXml(a.spec), buildDomainXml(q35));
      assert.ok(d, `${a.field} did not change the output`);
      assert.equal(d.path, a.path);
    });
  }

  const inert: (keyof FirmwareSelection)[] = ['enrolled_keys', 'source', 'arch', 'machine'];
  for (const field of inert) {
    it(`does not let the bookkeeping field ${field} change the XML`, () => {
      const value = typeof q35.firmware![field] === 'boolean' ? !q35.firmware![field] : 'something-else';
      assert.equal(xmlDiff(buildDomainXml(mutate({ [field]: value })), buildDomainXml(q35)), null);
    });
  }
});
