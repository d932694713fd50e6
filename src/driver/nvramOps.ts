/**
 * @module driver/nvramOps
 * Operators' view into an instance's UEFI variable store: the raw file, its variables
 * (decoded, or in the v2 interchange format), and edits: one variable, BootOrder/BootNext,
 * a reset to the pinned template, a whole-file replace. Secure Boot keys are
 * driver/secureBootOps (the same rules, plus a queue for running guests).
 *
 * Reads are snapshots and allowed while the guest runs. Every write requires the guest to be
 * shut off (QEMU maps the file as flash and rewrites it: a concurrent edit would be lost or
 * corrupt the store; the same rule as virt-fw-vars and edk2's FTW note), goes through
 * `NvramStore.writeBytes` (temp file, fsync, rename, fsync dir) and never changes the size.
 * Callers hold the instance lock (`ShimDriver.locked`). Parsing is `src/varstore`; its
 * `VarStoreError`s (`InvalidNVRAM`, 400/404/409/422 by reason) reach the caller unchanged.
 */
import { Invalid, InstanceInvalidState, InstanceNotFound, InvalidInput, NotFound } from '../errors';
import { PowerState, powerStateName } from '../nova/powerState';
import type { NvramBootWrite, NvramEditResult, NvramVariables, NvramVariableWrite, VariableJson } from './contract';
import type { NvramInfo } from '../nvram/store';
import type { InstanceRecord } from '../state/records';
import {
  EFI_GLOBAL_VARIABLE,
  attrNames,
  decodeBootOrder,
  decodeVariable,
  deleteVariable,
  exportJson,
  findVariable,
  isZeroTime,
  parseVarStore,
  setBootNext,
  setBootOrder,
  setVariable,
  writeVarStore,
  type Variable,
} from '../varstore';
import type { DriverCore } from './core';

/** EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS: the default for a new variable. */
const DEFAULT_ATTR = 0x07;

export function noStore(uuid: string, why: string): NotFound {
  return new NotFound(`Instance ${uuid} has no UEFI variable store (${why}).`);
}

/** The record and its store path; 404 for BIOS and stateless instances. */
export async function storeOf(core: DriverCore, uuid: string): Promise<{ rec: InstanceRecord; path: string }> {
  const rec = await core.mustRecord(uuid);
  if (!rec.nvramPath) throw noStore(uuid, rec.firmware ? 'stateless firmware' : 'BIOS');
  return { rec, path: rec.nvramPath };
}

export async function requireShutOff(core: DriverCore, rec: InstanceRecord, what: string): Promise<void> {
  const info = await core.hv.getInfo(rec.name);
  if (info?.state !== PowerState.SHUTDOWN) throw new InstanceInvalidState(rec.uuid, 'power_state', powerStateName(info?.state), what);
}

export function variableJson(v: Variable): VariableJson {
  const out: VariableJson = { name: v.name, guid: v.guid.toLowerCase(), attr: v.attr, attr_names: attrNames(v.attr), data: v.data.toString('hex') };
  if (v.timestamp && !isZeroTime(v.timestamp)) out.time = v.timestamp.toString('hex');
  const decoded = decodeVariable(v);
  if (decoded !== undefined) out.decoded = { ...decoded };
  return out;
}

/** The raw store, for inspection. */
export async function readRaw(core: DriverCore, uuid: string): Promise<{ data: Buffer; info: NvramInfo }> {
  const { path } = await storeOf(core, uuid);
  const info = await core.deps.nvram.info(path);
  if (!info) throw new InstanceNotFound(uuid);
  return { data: await core.deps.nvram.read(path), info };
}

/** Replace the whole store: shut off only, same size only. */
export async function writeRaw(core: DriverCore, uuid: string, data: Buffer, field = 'body'): Promise<NvramInfo> {
  const { rec, path } = await storeOf(core, uuid);
  await requireShutOff(core, rec, 'write the variable store');
  const cur = await core.deps.nvram.info(path);
  if (cur && cur.size !== data.length) throw new InvalidInput(field, `variable store must be ${cur.size} bytes, got ${data.length}`);
  await core.deps.nvram.writeBytes(path, data);
  return (await core.deps.nvram.info(path)) as NvramInfo;
}

export async function listVariables(core: DriverCore, uuid: string, format: 'decoded' | 'v2'): Promise<NvramVariables> {
  const { data } = await readRaw(core, uuid);
  const store = parseVarStore(data);
  if (format === 'v2') return exportJson(store.variables);
  return { format: store.store.format, variables: store.variables.map(variableJson) };
}

/** Parse, apply `edit` to the live variables, write the rebuilt store atomically. */
async function edit(core: DriverCore, uuid: string, what: string, fn: (vars: Variable[]) => Variable[]): Promise<{ info: NvramInfo; vars: Variable[] }> {
  const { rec, path } = await storeOf(core, uuid);
  await requireShutOff(core, rec, what);
  const before = await core.deps.nvram.read(path);
  const vars = fn(parseVarStore(before).variables);
  const after = writeVarStore(before, vars);
  await core.deps.nvram.writeBytes(path, after);
  core.deps.log.info('variable store edited', { instance_uuid: uuid, what });
  return { info: (await core.deps.nvram.info(path)) as NvramInfo, vars: parseVarStore(after).variables };
}

function hexField(value: string, field: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw new InvalidInput(field, 'not hex bytes');
  return Buffer.from(value, 'hex');
}

export async function putVariable(core: DriverCore, uuid: string, guid: string, name: string, body: NvramVariableWrite): Promise<NvramEditResult> {
  const data = hexField(body.data, 'data');
  const time = body.time === undefined ? undefined : hexField(body.time, 'time');
  const { info, vars } = await edit(core, uuid, `write variable ${name}`, (vs) =>
    setVariable(vs, { name, guid, attr: body.attr ?? findVariable(vs, name, guid)?.attr ?? DEFAULT_ATTR, data, time }),
  );
  return { nvram: info, variable: variableJson(findVariable(vars, name, guid) as Variable) };
}

export async function removeVariable(core: DriverCore, uuid: string, guid: string, name: string): Promise<NvramEditResult> {
  const { info } = await edit(core, uuid, `delete variable ${name}`, (vs) => deleteVariable(vs, name, guid));
  return { nvram: info };
}

export async function setBoot(core: DriverCore, uuid: string, body: NvramBootWrite): Promise<NvramEditResult> {
  const { info, vars } = await edit(core, uuid, 'set the boot order', (vs) => {
    let out = vs;
    if (body.boot_order !== undefined) out = setBootOrder(out, body.boot_order);
    if (body.boot_next === null) out = findVariable(out, 'BootNext', EFI_GLOBAL_VARIABLE) ? deleteVariable(out, 'BootNext', EFI_GLOBAL_VARIABLE) : out;
    else if (body.boot_next !== undefined) out = setBootNext(out, body.boot_next);
    return out;
  });
  const order = findVariable(vars, 'BootOrder', EFI_GLOBAL_VARIABLE);
  const next = findVariable(vars, 'BootNext', EFI_GLOBAL_VARIABLE);
  return { nvram: info, boot_order: order ? decodeBootOrder(order.data) : [], boot_next: next && next.data.length >= 2 ? next.data.readUInt16LE(0) : null };
}

/** Back to a fresh copy of the pinned template (the firmware the instance boots with). */
export async function reset(core: DriverCore, uuid: string): Promise<{ nvram: NvramInfo; template: string }> {
  const { rec, path } = await storeOf(core, uuid);
  await requireShutOff(core, rec, 'reset the variable store');
  const template = rec.firmware?.nvram_template;
  if (!template) throw noStore(uuid, 'no template pinned');
  if (!core.deps.firmware.exists(template))
    throw new Invalid(
      `Cannot reset the variable store of ${uuid}: its pinned template ${template} no longer exists on this host (a hard reboot re-selects the firmware).`,
      undefined,
      409,
    );
  const nvram = await core.deps.nvram.createFromTemplate(path, template);
  core.deps.log.info('variable store reset', { instance_uuid: uuid, template });
  return { nvram, template };
}
