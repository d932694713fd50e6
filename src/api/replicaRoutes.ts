/**
 * @module api/replicaRoutes
 * `/v1/replicas/orphans`: the instances of the replica store that no longer exist anywhere
 * (GET), and their removal (`POST .../prune`, a dry run unless `dry_run` is false). The rule
 * is replica/admin's.
 */
import express, { type Router } from 'express';
import type { DriverOf } from './context';
import type { RequestValidator } from './requestValidator';
import { jsonBody, sendJson } from './json';
import type { Schemas } from '../wire';

export function replicaRouter(driverOf: DriverOf, validator: RequestValidator): Router {
  const r = express.Router();
  const json = jsonBody('1mb', true);
  r.get('/v1/replicas/orphans', async (_req, res) => {
    sendJson(res, (await driverOf(res).listOrphanedReplicas()) satisfies Schemas['ReplicaOrphans']);
  });
  r.post('/v1/replicas/orphans/prune', json, async (req, res) => {
    validator.validate('prune_orphaned_replicas', req.body);
    const body = req.body as Schemas['ReplicaPruneRequest'];
    const result = await driverOf(res).pruneOrphanedReplicas({ dryRun: body.dry_run !== false, instances: body.instances });
    sendJson(res, result satisfies Schemas['ReplicaPruneResult']);
  });
  return r;
}
