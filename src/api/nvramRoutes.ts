/**
 * @module api/nvramRoutes
 * `/v1/instances/{uuid}/nvram[...]`: the raw store (GET with `X-NVRAM-Size`/`X-NVRAM-SHA256`,
 * PUT of a whole same-size store), its variables (`?format=v2` for the virt-fw-vars / QEMU
 * uefi-vars interchange format), one variable (PUT/DELETE by GUID and name), BootOrder/BootNext,
 * the Secure Boot summary and key changes (PUT, `?queue=true` for a running guest: 202; DELETE of a
 * queued change), a reset to the pinned template, and the replicas off this host (`backups`:
 * list, write one now; `restore`: one generation back). Writes are refused with 409
 * `InstanceInvalidState` while the guest runs (see driver/nvramOps). Bodies are validated
 * against the OpenAPI document; path parameters here.
 */
import express, { type Request, type Router } from 'express';
import type { DriverOf } from './context';
import { InvalidInput } from '../errors';
import { validateUuid } from '../nova/ids';
import { resolveGuid } from '../varstore';
import type { RequestValidator } from './requestValidator';
import type {
  NvramBackupListBody,
  NvramBootWriteBody,
  NvramEditResultBody,
  NvramRestoreRequestBody,
  NvramRestoreResultBody,
  NvramVariableWriteBody,
  SecureBootSummaryBody,
  SecureBootWriteBody,
  SecureBootWriteResultBody,
} from '../wire';
import { jsonBody, sendJson } from './json';

const MAX_NVRAM_BYTES = 128 * 1024 * 1024;

function variableParams(req: Request): { uuid: string; guid: string; name: string } {
  // A GUID or one of its well-known names (`EfiGlobalVariable`, ...), as the offline CLI takes.
  const given = String(req.params.guid);
  const guid = resolveGuid(given);
  if (!guid) throw new InvalidInput('guid', `'${given}' is not a GUID or a well-known GUID name (EfiGlobalVariable, EfiImageSecurityDatabase, ...)`);
  const name = String(req.params.name);
  if (name.length === 0 || name.length > 512 || name.includes('\0')) throw new InvalidInput('name', 'must be 1-512 characters without NUL');
  return { uuid: validateUuid(String(req.params.uuid)), guid, name };
}

export function nvramRouter(driverOf: DriverOf, validator: RequestValidator): Router {
  const r = express.Router();
  const json = jsonBody('4mb', true);
  const uuidOf = (req: Request) => validateUuid(String(req.params.uuid));

  r.get('/v1/instances/:uuid/nvram', async (req, res) => {
    const { data, info } = await driverOf(res).getNvram(uuidOf(req));
    res.setHeader('X-NVRAM-Size', String(info.size));
    res.setHeader('X-NVRAM-SHA256', info.sha256);
    res.type('application/octet-stream').send(data);
  });
  r.put('/v1/instances/:uuid/nvram', express.raw({ type: () => true, limit: MAX_NVRAM_BYTES }), async (req, res) => {
    const uuid = uuidOf(req);
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw new InvalidInput('body', 'variable store bytes required');
    sendJson(res, { nvram: await driverOf(res).putNvram(uuid, req.body) });
  });

  r.get('/v1/instances/:uuid/nvram/variables', async (req, res) => {
    const format = req.query.format ?? 'decoded';
    if (format !== 'decoded' && format !== 'v2') throw new InvalidInput('format', "must be 'decoded' or 'v2'");
    sendJson(res, await driverOf(res).listNvramVariables(uuidOf(req), format));
  });
  r.put('/v1/instances/:uuid/nvram/variables/:guid/:name', json, async (req, res) => {
    const { uuid, guid, name } = variableParams(req);
    validator.validate('put_nvram_variable', req.body);
    sendJson(res, (await driverOf(res).putNvramVariable(uuid, guid, name, req.body as NvramVariableWriteBody)) satisfies NvramEditResultBody);
  });
  r.delete('/v1/instances/:uuid/nvram/variables/:guid/:name', async (req, res) => {
    const { uuid, guid, name } = variableParams(req);
    sendJson(res, (await driverOf(res).deleteNvramVariable(uuid, guid, name)) satisfies NvramEditResultBody);
  });
  r.put('/v1/instances/:uuid/nvram/boot', json, async (req, res) => {
    const uuid = uuidOf(req);
    validator.validate('put_nvram_boot', req.body);
    sendJson(res, (await driverOf(res).setNvramBoot(uuid, req.body as NvramBootWriteBody)) satisfies NvramEditResultBody);
  });
  r.get('/v1/instances/:uuid/nvram/secure-boot', async (req, res) => {
    sendJson(res, (await driverOf(res).nvramSecureBoot(uuidOf(req))) satisfies SecureBootSummaryBody);
  });
  r.put('/v1/instances/:uuid/nvram/secure-boot', json, async (req, res) => {
    const uuid = uuidOf(req);
    const q = req.query.queue;
    if (q !== undefined && q !== 'true' && q !== 'false') throw new InvalidInput('queue', "must be 'true' or 'false'");
    validator.validate('put_nvram_secure_boot', req.body);
    const result = await driverOf(res).putNvramSecureBoot(uuid, req.body as SecureBootWriteBody, q === 'true');
    sendJson(res, result satisfies SecureBootWriteResultBody, result.queued ? 202 : 200);
  });
  r.delete('/v1/instances/:uuid/nvram/secure-boot/pending/:changeId', async (req, res) => {
    const id = String(req.params.changeId);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new InvalidInput('change_id', `'${id}' is not a change id`);
    sendJson(res, await driverOf(res).cancelSecureBootChange(uuidOf(req), id.toLowerCase()));
  });
  r.post('/v1/instances/:uuid/nvram/reset', async (req, res) => {
    sendJson(res, await driverOf(res).resetNvram(uuidOf(req)));
  });
  r.get('/v1/instances/:uuid/nvram/backups', async (req, res) => {
    sendJson(res, (await driverOf(res).listNvramBackups(uuidOf(req))) satisfies NvramBackupListBody);
  });
  r.post('/v1/instances/:uuid/nvram/backups', async (req, res) => {
    sendJson(res, await driverOf(res).createNvramBackup(uuidOf(req)));
  });
  r.post('/v1/instances/:uuid/nvram/restore', json, async (req, res) => {
    const uuid = uuidOf(req);
    validator.validate('restore_nvram', req.body);
    const { generation } = req.body as NvramRestoreRequestBody;
    sendJson(res, (await driverOf(res).restoreNvram(uuid, generation)) satisfies NvramRestoreResultBody);
  });
  return r;
}
