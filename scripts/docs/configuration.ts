/**
 * Render docs/configuration.md from the option table (src/config/schema.ts), the same table
 * the sample configuration and the loader use, so the reference cannot drift from the code.
 * What the table does not hold (a sentence per section) is written here.
 */
import { FIRMWARE_MAP_OPTIONS, OPTIONS, SECURE_BOOT_KEYSET_OPTIONS, type OptDef } from '../../src/config/schema';
import { sampleValue } from '../../src/config/sample';

const SECTIONS: Record<string, string> = {
  DEFAULT: 'This host and how instances are named.',
  api: 'The HTTP API: where it listens, its token, TLS, metrics and the graceful stop.',
  hypervisor: 'Who owns the domains ([installing.md](installing.md#choosing-a-backend)) and where records and journals live.',
  nvram: 'Where variable stores live and who owns them.',
  libvirt: "libvirt's connection and the options of Nova's `[libvirt]` section the sidecar applies itself.",
  firmware: 'Firmware discovery ([firmware.md](firmware.md)).',
  peer: 'The other sidecars: how they are found, signed and verified ([migrations.md](migrations.md)).',
  replica: 'Encrypted generations of every store off the host ([replicas.md](replicas.md)).',
  debug: 'For tests only.',
  'firmware:<arch>':
    "One section per architecture (`[firmware:x86_64]`, `[firmware:aarch64]`): the operator's firmware map. It outranks the QEMU firmware descriptors ([firmware.md](firmware.md)).",
  'secure_boot_keyset:<name>':
    "Any number of sections, one per key set: Secure Boot keys enrolled into instances by name (flavor extra spec `os:secure_boot_keyset`, image property `os_secure_boot_keyset`, the API, fleet rotations; [secure-boot.md](secure-boot.md)). Checked at start and on reload. `debian` is built in: the keys of this host's enrolled Secure Boot template.",
};

/** `api.auth_token` -> `[api] auth_token` */
function optionName(ref: string): string {
  const dot = ref.lastIndexOf('.');
  return `\`[${ref.slice(0, dot)}] ${ref.slice(dot + 1)}\``;
}

/** Table-cell text: pipes escaped, one line, and `<` outside code spans escaped so forges do not take `<name>` for HTML. */
function cell(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 ? part : part.replace(/</g, '\\<')))
    .join('`')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}

function row(def: OptDef): string {
  const value = sampleValue(def);
  const notes: string[] = [def.help];
  if (def.choices) notes.push(`One of: ${def.choices.map((c) => `\`${c}\``).join(', ')}.`);
  if (def.min !== undefined || def.max !== undefined) notes.push(`Range: ${def.min ?? '…'} to ${def.max ?? '…'}.`);
  if (def.related?.length) notes.push(`Related: ${def.related.map(optionName).join(', ')}.`);
  if (def.secret) notes.push('Secret: never logged.');
  return `| \`${def.key}\` | ${def.type} | ${value === '' ? '(empty)' : `\`${value.replace(/\|/g, '\\|')}\``} | ${def.mutable ? 'reload' : 'restart'} | ${cell(notes.join(' '))} |`;
}

function section(name: string, defs: readonly OptDef[]): string[] {
  return [
    `## \`[${name}]\``,
    '',
    SECTIONS[name] ?? '',
    '',
    '| Option | Type | Default | Applied at | Description |',
    '| --- | --- | --- | --- | --- |',
    ...defs.map(row),
    '',
  ];
}

export function renderConfigurationReference(): string {
  const order: string[] = [];
  for (const def of OPTIONS) if (!order.includes(def.section)) order.push(def.section);
  const all = [...order, 'firmware:<arch>', 'secure_boot_keyset:<name>'];
  return [
    '<!-- Generated from src/config/schema.ts by `npm run gen:docs`; do not edit. -->',
    '',
    '# Configuration reference',
    '',
    'The sidecar reads one INI file, oslo.config style: `nova-uefi-shim --config-file FILE` (or',
    '`npm start -- --config-file FILE`); without one it runs on the defaults below. Unknown sections',
    'and keys are errors, and every problem is reported at once, naming its option. The same options,',
    'commented, are in [`etc/nova-uefi-shim.conf.sample`](../etc/nova-uefi-shim.conf.sample).',
    '',
    '"Applied at" says whether a reload (`systemctl reload nova-uefi-shim`, SIGHUP) applies a',
    'changed value while the sidecar runs, or whether it keeps its running value until a restart',
    '(a reload that changes one logs it with both values; [operations.md](operations.md#reload-sighup)).',
    'Lists are comma-separated; dicts are `key=value,key=value`.',
    '',
    ...all.map((s) => `- [\`[${s}]\`](#${s.toLowerCase().replace(/[^a-z0-9_ -]/g, '')})`),
    '',
    ...order.flatMap((s) =>
      section(
        s,
        OPTIONS.filter((d) => d.section === s),
      ),
    ),
    ...section('firmware:<arch>', FIRMWARE_MAP_OPTIONS),
    ...section('secure_boot_keyset:<name>', SECURE_BOOT_KEYSET_OPTIONS),
  ].join('\n');
}
