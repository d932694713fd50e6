/**
 * Meta-test (STYLE R13, virt-manager's "every property exercised"): every DomainSpec and
 * FirmwareSelection field is classified below — the `Record<keyof …>` types make tsc fail
 * when a field is added without a decision. Fields that affect the XML must be set in some
 * golden fixture (booleans: both values) and must change the output when perturbed in that
 * fixture; bookkeeping fields must never change it.
 */
import { strict as assert } from 'node:assert';
import { buildDomainXml } from '../../../src/domainXml/build';
import type { DomainSpec } from '../../../src/domainXml/types';
import type { FirmwareSelection } from '../../../src/firmware/types';
import { goldenCases, type GoldenCase } from './fixtures';

type Role = 'output' | 'ignored';

const SPEC_FIELDS: Record<keyof DomainSpec, Role> = {
  name: 'output',
  uuid: 'output',
  virtType: 'output',
  arch: 'output',
  machine: 'output',
  vcpus: 'output',
  memoryMb: 'output',
  firmware: 'output',
  nvramPath: 'output',
  serialSocket: 'output',
  baseXml: 'output',
};

const FIRMWARE_FIELDS: Record<keyof FirmwareSelection, Role> = {
  loader: 'output',
  nvram_template: 'output',
  secure: 'output',
  requires_smm: 'output',
  stateless: 'output',
  enrolled_keys: 'ignored',
  source: 'ignored',
  arch: 'ignored',
  machine: 'ignored',
};

/** A different but valid value for a field (strings get a suffix, booleans flip, numbers grow). */
function perturb(v: unknown): unknown {
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'string') return `${v}-x`;
  return v;
}

function specPerturbations(c: GoldenCase, field: keyof DomainSpec): DomainSpec[] {
  const s = c.spec;
  switch (field) {
    case 'virtType':
      return [{ ...s, virtType: s.virtType === 'kvm' ? 'qemu' : 'kvm' }];
    case 'firmware':
      return [{ ...s, firmware: null, nvramPath: null }];
    case 'baseXml':
      return s.baseXml === undefined ? [] : [{ ...s, baseXml: undefined }];
    case 'uuid':
      return [{ ...s, uuid: '00000000-0000-4000-8000-000000000000' }];
    default:
      return s[field] === undefined || s[field] === null ? [] : [{ ...s, [field]: perturb(s[field]) }];
  }
}

const cases = goldenCases();

function changes(before: DomainSpec, after: DomainSpec): boolean {
  try {
    return buildDomainXml(after) !== buildDomainXml(before);
  } catch {
    return false;
  }
}

describe('domainXml fixtures: every output field is exercised (meta-test)', () => {
  for (const [field, role] of Object.entries(SPEC_FIELDS) as [keyof DomainSpec, Role][]) {
    if (role === 'ignored') continue;
    it(`DomainSpec.${field} is set in some fixture and changes the XML there`, () => {
      const set = cases.filter((c) => c.spec[field] !== undefined && c.spec[field] !== null);
      assert.ok(set.length > 0, `no fixture sets ${field}`);
      assert.ok(
        set.some((c) => specPerturbations(c, field).some((p) => changes(c.spec, p))),
        `${field} never changes the output of the fixtures that set it`,
      );
    });
  }

  it('DomainSpec.firmware is null in some fixture and a selection in another', () => {
    assert.ok(cases.some((c) => c.spec.firmware === null));
    assert.ok(cases.some((c) => c.spec.firmware !== null));
  });

  for (const [field, role] of Object.entries(FIRMWARE_FIELDS) as [keyof FirmwareSelection, Role][]) {
    const withFw = cases.filter((c) => c.spec.firmware !== null);
    const mutate = (c: GoldenCase): DomainSpec => {
      const fw = c.spec.firmware!;
      const next = { ...fw, [field]: field === 'nvram_template' && fw.nvram_template === null ? '/usr/share/OVMF/OVMF_VARS_4M.fd' : perturb(fw[field]) };
      // Turning stateless off needs an NVRAM path; turning it on drops the need.
      const nvramPath = field === 'stateless' && !next.stateless ? (c.spec.nvramPath ?? `/nvram/${c.spec.name}_VARS.fd`) : c.spec.nvramPath;
      return { ...c.spec, firmware: next, nvramPath };
    };
    if (role === 'output') {
      it(`FirmwareSelection.${field} appears in a fixture and changes the XML there`, () => {
        assert.ok(
          withFw.some((c) => changes(c.spec, mutate(c))),
          `${field} never changes the output`,
        );
        if (typeof withFw[0].spec.firmware![field] === 'boolean') {
          const seen = new Set(withFw.map((c) => c.spec.firmware![field]));
          assert.deepEqual([...seen].sort(), [false, true], `${field} is not covered with both values`);
        }
      });
    } else {
      it(`FirmwareSelection.${field} is bookkeeping: it never changes the XML`, () => {
        for (const c of withFw) assert.equal(buildDomainXml(mutate(c)), buildDomainXml(c.spec), c.name);
      });
    }
  }
});
