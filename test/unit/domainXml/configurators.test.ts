import { strict as assert } from 'node:assert';
import * as C from '../../../src/domainXml/configurators';
import { parseXml, serializeXml } from '../../../src/domainXml/serialize';
import type { DomainSpec } from '../../../src/domainXml/types';
import type { FirmwareSelection } from '../../../src/firmware/types';
import { assertXmlEqual } from './xmlEqual';

const FW: FirmwareSelection = {
  loader: '/fw/CODE.fd',
  nvram_template: '/fw/VARS.fd',
  secure: false,
  requires_smm: false,
  stateless: false,
  enrolled_keys: false,
  source: 'config:[firmware:x86_64]',
  arch: 'x86_64',
  machine: 'q35',
};
const SPEC: DomainSpec = {
  name: 'instance-00000001',
  uuid: 'u-1',
  virtType: 'qemu',
  arch: 'x86_64',
  machine: 'q35',
  vcpus: 2,
  memoryMb: 512,
  firmware: FW,
  nvramPath: '/nv/instance-00000001_VARS.fd',
};

interface Row {
  name: string;
  spec?: Partial<DomainSpec>;
  fw?: Partial<FirmwareSelection> | null;
  input: string;
  /** Expected XML, or an error type plus message fragment. */
  expect: string | { error: string; fragment: string };
}

const tables: Record<string, { fn: C.Configurator; rows: Row[] }> = {
  identity: {
    fn: C.identity,
    rows: [
      {
        name: 'sets type, name and uuid on an empty domain',
        input: '<domain/>',
        expect: "<domain type='qemu'><name>instance-00000001</name><uuid>u-1</uuid></domain>",
      },
      {
        name: 'inserts a missing uuid right after an existing name, not at the end',
        input: "<domain type='qemu'><name>instance-00000001</name><memory>1</memory></domain>",
        expect: "<domain type='qemu'><name>instance-00000001</name><uuid>u-1</uuid><memory>1</memory></domain>",
      },
      {
        name: 'switches kvm to the spec virt type',
        spec: { virtType: 'kvm' },
        input: "<domain type='qemu'><name>instance-00000001</name><uuid>u-1</uuid></domain>",
        expect: "<domain type='kvm'><name>instance-00000001</name><uuid>u-1</uuid></domain>",
      },
      {
        name: 'leaves uuid before name where the base has it',
        input: "<domain type='qemu'><uuid>u-1</uuid><name>instance-00000001</name></domain>",
        expect: "<domain type='qemu'><uuid>u-1</uuid><name>instance-00000001</name></domain>",
      },
      {
        name: 'refuses an empty name with InvalidInput',
        spec: { name: '' },
        input: '<domain/>',
        expect: { error: 'InvalidInput', fragment: 'name: empty domain name' },
      },
    ],
  },
  memory: {
    fn: C.memory,
    rows: [
      {
        name: 'writes memory in KiB and vcpu after uuid',
        input: '<domain><name>n</name><uuid>u</uuid></domain>',
        expect: "<domain><name>n</name><uuid>u</uuid><memory unit='KiB'>524288</memory><vcpu>2</vcpu></domain>",
      },
      {
        name: 'rewrites existing memory (unit included) and vcpu in place',
        input: "<domain><memory unit='MiB'>1</memory><vcpu placement='static'>9</vcpu><os/></domain>",
        expect: "<domain><memory unit='KiB'>524288</memory><vcpu placement='static'>2</vcpu><os/></domain>",
      },
      {
        name: 'refuses zero memory with InvalidInput naming memory_mb',
        spec: { memoryMb: 0 },
        input: '<domain/>',
        expect: { error: 'InvalidInput', fragment: 'memory_mb' },
      },
      {
        name: 'refuses fractional vcpus with InvalidInput naming vcpus',
        spec: { vcpus: 1.5 },
        input: '<domain/>',
        expect: { error: 'InvalidInput', fragment: 'vcpus' },
      },
    ],
  },
  osType: {
    fn: C.osType,
    rows: [
      {
        name: 'creates <os><type arch machine>hvm after vcpu',
        input: '<domain><vcpu>1</vcpu><devices/></domain>',
        expect: "<domain><vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os><devices/></domain>",
      },
      {
        name: 'omits machine when the spec has none',
        spec: { machine: '' },
        input: '<domain/>',
        expect: "<domain><os><type arch='x86_64'>hvm</type></os></domain>",
      },
      {
        name: 'moves an existing <type> to the front of <os>',
        input: "<domain><os><boot dev='hd'/><type>hvm</type></os></domain>",
        expect: "<domain><os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os></domain>",
      },
    ],
  },
  firmware: {
    fn: C.firmware,
    rows: [
      {
        name: 'writes loader and nvram with template for stateful UEFI',
        input: '<domain><os><type>hvm</type></os></domain>',
        expect:
          "<domain><os><type>hvm</type><loader readonly='yes' type='pflash' secure='no'>/fw/CODE.fd</loader><nvram template='/fw/VARS.fd'>/nv/instance-00000001_VARS.fd</nvram></os></domain>",
      },
      {
        name: "writes secure='yes' for a Secure Boot selection",
        fw: { secure: true },
        input: '<domain><os><type>hvm</type></os></domain>',
        expect:
          "<domain><os><type>hvm</type><loader readonly='yes' type='pflash' secure='yes'>/fw/CODE.fd</loader><nvram template='/fw/VARS.fd'>/nv/instance-00000001_VARS.fd</nvram></os></domain>",
      },
      {
        name: 'writes nvram without template when the selection has none',
        fw: { nvram_template: null },
        input: '<domain><os><type>hvm</type></os></domain>',
        expect:
          "<domain><os><type>hvm</type><loader readonly='yes' type='pflash' secure='no'>/fw/CODE.fd</loader><nvram>/nv/instance-00000001_VARS.fd</nvram></os></domain>",
      },
      {
        name: "writes stateless='yes' and no nvram for stateless firmware",
        fw: { stateless: true, nvram_template: null },
        spec: { nvramPath: null },
        input: '<domain><os><type>hvm</type><nvram>/old</nvram></os></domain>',
        expect: "<domain><os><type>hvm</type><loader readonly='yes' type='pflash' secure='no' stateless='yes'>/fw/CODE.fd</loader></os></domain>",
      },
      {
        name: "replaces firmware='efi' and the <firmware> feature list, keeping other <os> attributes and children",
        input:
          "<domain><os firmware='efi' x='1'><type>hvm</type><firmware><feature enabled='yes' name='secure-boot'/></firmware><loader secure='yes'/><boot dev='hd'/></os></domain>",
        expect:
          "<domain><os x='1'><type>hvm</type><loader readonly='yes' type='pflash' secure='no'>/fw/CODE.fd</loader><nvram template='/fw/VARS.fd'>/nv/instance-00000001_VARS.fd</nvram><boot dev='hd'/></os></domain>",
      },
      {
        name: 'removes loader, nvram and every <os> attribute for BIOS',
        fw: null,
        spec: { nvramPath: null },
        input: "<domain><os firmware='efi'><type>hvm</type><loader>/c</loader><nvram>/n</nvram><boot dev='hd'/></os></domain>",
        expect: "<domain><os><type>hvm</type><boot dev='hd'/></os></domain>",
      },
      {
        name: 'refuses stateful UEFI without an NVRAM path with InvalidInput',
        spec: { nvramPath: null },
        input: '<domain><os/></domain>',
        expect: { error: 'InvalidInput', fragment: 'nvram_path' },
      },
      {
        name: 'refuses an empty loader path with InvalidInput',
        fw: { loader: '' },
        input: '<domain><os/></domain>',
        expect: { error: 'InvalidInput', fragment: 'firmware.loader' },
      },
    ],
  },
  platformFeatures: {
    fn: C.platformFeatures,
    rows: [
      {
        name: 'adds <acpi/> on x86_64 after <os>',
        input: '<domain><os/><devices/></domain>',
        expect: '<domain><os/><features><acpi/></features><devices/></domain>',
      },
      {
        name: "adds <gic version='3'/> on aarch64",
        spec: { arch: 'aarch64' },
        input: '<domain><os/></domain>',
        expect: "<domain><os/><features><gic version='3'/></features></domain>",
      },
      {
        name: 'does not duplicate an existing <acpi/>',
        input: '<domain><features><apic/><acpi/></features></domain>',
        expect: '<domain><features><apic/><acpi/></features></domain>',
      },
      { name: 'adds an empty <features> on other architectures', spec: { arch: 'riscv64' }, input: '<domain/>', expect: '<domain><features/></domain>' },
    ],
  },
  smm: {
    fn: C.smm,
    rows: [
      {
        name: "adds <smm state='on'/> when the firmware requires SMM",
        fw: { requires_smm: true },
        input: '<domain><features><acpi/></features></domain>',
        expect: "<domain><features><acpi/><smm state='on'/></features></domain>",
      },
      {
        name: "switches an existing <smm state='off'> on and keeps its <tseg>",
        fw: { requires_smm: true },
        input: "<domain><features><smm state='off'><tseg unit='MiB'>48</tseg></smm></features></domain>",
        expect: "<domain><features><smm state='on'><tseg unit='MiB'>48</tseg></smm></features></domain>",
      },
      {
        name: "turns Nova 26's nested <smm><smm state='on'/></smm> into one <smm state='on'/> when SMM is required",
        fw: { requires_smm: true },
        input: "<domain><features><acpi/><smm><smm state='on'/></smm></features></domain>",
        expect: "<domain><features><acpi/><smm state='on'/></features></domain>",
      },
      {
        name: "lifts the nested element's state and keeps <tseg> when SMM is not required",
        input: "<domain><features><smm><smm state='on'/><tseg unit='MiB'>48</tseg></smm></features></domain>",
        expect: "<domain><features><smm state='on'><tseg unit='MiB'>48</tseg></smm></features></domain>",
      },
      {
        name: "keeps the outer element's own state over the nested one's",
        input: "<domain><features><smm state='off'><smm state='on'/></smm></features></domain>",
        expect: "<domain><features><smm state='off'/></features></domain>",
      },
      {
        name: 'leaves an existing <smm> alone when SMM is not required',
        input: "<domain><features><smm state='off'/></features></domain>",
        expect: "<domain><features><smm state='off'/></features></domain>",
      },
      { name: 'adds nothing (not even <features>) for BIOS', fw: null, input: '<domain><os/></domain>', expect: '<domain><os/></domain>' },
    ],
  },
  cpu: {
    fn: C.cpu,
    rows: [
      {
        name: 'adds cortex-a57 with fallback=forbid on aarch64 under TCG',
        spec: { arch: 'aarch64' },
        input: '<domain><os/><features/><devices/></domain>',
        expect: "<domain><os/><features/><cpu mode='custom' match='exact'><model fallback='forbid'>cortex-a57</model></cpu><devices/></domain>",
      },
      {
        name: 'adds host-passthrough on aarch64 under KVM',
        spec: { arch: 'aarch64', virtType: 'kvm' },
        input: '<domain><os/></domain>',
        expect: "<domain><os/><cpu mode='host-passthrough'/></domain>",
      },
      {
        name: 'keeps an existing <cpu> on aarch64',
        spec: { arch: 'aarch64' },
        input: "<domain><cpu mode='host-model'/></domain>",
        expect: "<domain><cpu mode='host-model'/></domain>",
      },
      { name: 'adds nothing on x86_64', input: '<domain><os/></domain>', expect: '<domain><os/></domain>' },
    ],
  },
  lifecycle: {
    fn: C.lifecycle,
    rows: [
      {
        name: 'adds the three actions after <features> in libvirt order',
        input: '<domain><os/><features/><devices/></domain>',
        expect: '<domain><os/><features/><on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash><devices/></domain>',
      },
      {
        name: 'keeps existing actions and adds only the missing ones',
        input: '<domain><os/><on_crash>coredump-destroy</on_crash></domain>',
        expect: '<domain><os/><on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>coredump-destroy</on_crash></domain>',
      },
    ],
  },
  devices: {
    fn: C.devices,
    rows: [
      {
        name: 'adds a bind-mode unix serial on port 0 when a socket is given',
        spec: { serialSocket: '/run/s.sock' },
        input: '<domain><os/></domain>',
        expect: "<domain><os/><devices><serial type='unix'><source mode='bind' path='/run/s.sock'/><target port='0'/></serial></devices></domain>",
      },
      { name: 'adds nothing without a socket', input: '<domain><os/></domain>', expect: '<domain><os/></domain>' },
      {
        name: 'adds no serial when the domain already has a <serial>',
        spec: { serialSocket: '/run/s.sock' },
        input: "<domain><devices><serial type='pty'/></devices></domain>",
        expect: "<domain><devices><serial type='pty'/></devices></domain>",
      },
      {
        name: 'adds no serial when the domain already has a <console>',
        spec: { serialSocket: '/run/s.sock' },
        input: "<domain><devices><console type='pty'/></devices></domain>",
        expect: "<domain><devices><console type='pty'/></devices></domain>",
      },
    ],
  },
};

describe('domainXml/configurators', () => {
  for (const [name, { fn, rows }] of Object.entries(tables)) {
    describe(name, () => {
      for (const row of rows) {
        it(row.name, () => {
          const spec: DomainSpec = { ...SPEC, ...row.spec, firmware: row.fw === null ? null : { ...FW, ...(row.fw ?? {}) } };
          const dom = parseXml(row.input);
          if (typeof row.expect === 'string') {
            fn(spec, dom);
            assertXmlEqual(serializeXml(dom), row.expect, `${name}: ${row.name}`);
          } else {
            const { error, fragment } = row.expect;
            assert.throws(
              () => fn(spec, dom),
              (e: Error & { type?: string }) => e.type === error && e.message.includes(fragment),
            );
          }
        });
      }
    });
  }

  it('lists MINIMAL and PATCH in the documented order', () => {
    assert.deepEqual(
      C.MINIMAL.map((f) => f.name),
      ['identity', 'memory', 'osType', 'firmware', 'platformFeatures', 'smm', 'cpu', 'lifecycle', 'devices'],
    );
    assert.deepEqual(
      C.PATCH.map((f) => f.name),
      ['identity', 'firmware', 'smm', 'devices'],
    );
  });
});
