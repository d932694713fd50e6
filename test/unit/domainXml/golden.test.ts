import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { buildDomainXml } from '../../../src/domainXml/build';
import { parseXml, serializeXml } from '../../../src/domainXml/serialize';
import { assertXmlEqual } from './xmlEqual';
import { goldenCases } from './fixtures';
import { skipOrFail } from '../../support/libvirtd';

const cases = goldenCases();
const update = process.env.UPDATE_GOLDEN === '1';

/** null when libvirt's schema validator can run here, else why not. */
function validatorMissing(): string | null {
  for (const tool of ['xmllint', 'virt-xml-validate']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (Debian ${tool === 'xmllint' ? 'libxml2-utils' : 'libvirt-clients'})`;
    }
  }
  return fs.existsSync('/usr/share/libvirt/schemas/domain.rng') ? null : "libvirt's domain.rng is missing (Debian libvirt-daemon-system)";
}

describe('domainXml golden files (test/fixtures/domainXml)', () => {
  it('has the required cases', () => {
    const names = cases.map((c) => c.name);
    for (const n of [
      'q35-uefi',
      'q35-secure-smm',
      'q35-stateless',
      'pc-bios',
      'aarch64-virt-uefi',
      'nova-efi-base',
      'nova-bios-base',
      'nova-stateless-smm-base',
      // Nova 26.2.2's own Secure Boot XML: its nested <smm><smm state='on'/></smm> must come out valid.
      'nova26-secure-smm-base',
    ])
      assert.ok(names.includes(n), n);
  });

  for (const c of cases) {
    describe(c.name, () => {
      it(`builds the XML in ${c.name}-out.xml`, () => {
        const got = buildDomainXml(c.spec);
        if (update) fs.writeFileSync(c.outPath, got);
        assertXmlEqual(got, fs.readFileSync(c.outPath, 'utf8'), c.name);
      });

      it('never writes firmware=efi nor an <os><firmware> feature list', () => {
        const got = buildDomainXml(c.spec);
        assert.doesNotMatch(got, /firmware\s*=\s*['"]efi['"]/);
        const os = parseXml(got).children.find((n) => typeof n !== 'string' && n.name === 'os');
        assert.ok(os && typeof os !== 'string');
        assert.ok(!os.children.some((n) => typeof n !== 'string' && n.name === 'firmware'));
        assert.equal(os.attrs.firmware, undefined);
      });

      it('is a fixed point: patching its own output changes nothing', () => {
        const once = buildDomainXml(c.spec);
        assert.equal(buildDomainXml({ ...c.spec, baseXml: once }), once);
      });

      it('survives parse and serialize byte for byte', () => {
        const got = buildDomainXml(c.spec);
        assert.equal(serializeXml(parseXml(got)), got);
      });

      it('is valid against libvirt’s domain.rng (virt-xml-validate; NUS_REQUIRE_LIBVIRT=1 fails instead of skipping)', function () {
        const missing = validatorMissing();
        if (missing) skipOrFail(this, missing);
        const got = buildDomainXml(c.spec);
        const dir = fs.mkdtempSync('/tmp/domxml-');
        try {
          fs.writeFileSync(`${dir}/d.xml`, got);
          execFileSync('virt-xml-validate', [`${dir}/d.xml`, 'domain'], { stdio: 'pipe' });
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
});
