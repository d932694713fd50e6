/**
 * @module api/app
 * The express application: request ids (`X-OpenStack-Request-ID`, generated as
 * `req-<uuid>` when absent, echoed, carried by every log line the request causes through
 * `ShimDriver.forRequest`), bearer-token auth (all but /healthz), request validation
 * against the OpenAPI document, versioned-object unwrapping, one route per Nova method, JSON
 * answers through `sendJson`, and one error middleware that maps `NovaError`s to
 * `{"error": {"type", "code", "message"}}` and anything else to a 500 without a stack.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { ShimDriver } from '../driver';
import { InvalidInput, NovaError, Unauthorized, isNovaError } from '../errors';
import type { Logger } from '../util/log';
import { RequestValidator } from './requestValidator';
import { nvramRouter } from './nvramRoutes';
import { callInstanceMethod, isInstanceMethod } from './methods';
import { validateUuid } from '../nova/ids';
import type {
  CapabilitiesBody,
  FirmwareInventoryBody,
  InstanceListBody,
  InstanceViewBody,
  SecureBootInventoryBody,
  SecureBootRotationBody,
  SecureBootRotationRequestBody,
} from '../wire';
import { sendJson } from './json';
import { requestDriver, type DriverOf } from './context';

export interface AppOptions {
  driver: ShimDriver;
  log: Logger;
  authToken: string;
  host: string;
  backend: string;
  /** Extra routers mounted before the error handler (peer endpoints), given the request's driver. */
  extraRouters?: ((driverOf: DriverOf) => express.Router)[];
}

const REQ_ID_RE = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function tokenMatches(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createApp(opts: AppOptions): express.Express {
  const app = express();
  const validator = new RequestValidator();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.header('x-openstack-request-id');
    const rid = given && REQ_ID_RE.test(given) ? given : `req-${randomUUID()}`;
    res.locals.requestId = rid;
    res.setHeader('X-OpenStack-Request-ID', rid);
    const started = performance.now();
    res.on('finish', () => {
      opts.log.info('request', { request_id: rid, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - started) });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    sendJson(res, { status: 'ok', host: opts.host, backend: opts.backend });
  });

  app.use((req: Request, _res: Response, next: NextFunction) => {
    if (!opts.authToken || req.path.startsWith('/v1/peer/')) return next();
    const h = req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m) return next(new Unauthorized('missing bearer token'));
    if (!tokenMatches(m[1].trim(), opts.authToken)) return next(new Unauthorized('wrong bearer token'));
    next();
  });

  const json = express.json({ limit: '16mb', strict: false });
  const d = opts.driver;
  const driverOf = requestDriver(d);

  app.get('/v1/host/capabilities', (_req, res) => {
    sendJson(res, d.capabilities() satisfies CapabilitiesBody);
  });
  app.get('/v1/host/firmware', (_req, res) => {
    sendJson(res, d.firmwareView() satisfies FirmwareInventoryBody);
  });
  app.get('/v1/host/secure-boot', async (_req, res) => {
    sendJson(res, (await d.secureBootInventory()) satisfies SecureBootInventoryBody);
  });
  app.get('/v1/host/secure-boot/rotations', async (_req, res) => {
    sendJson(res, await d.listSecureBootRotations());
  });
  app.post('/v1/host/secure-boot/rotations', json, async (req, res) => {
    validator.validate('create_secure_boot_rotation', req.body);
    sendJson(res, (await driverOf(res).startSecureBootRotation(req.body as SecureBootRotationRequestBody)) satisfies SecureBootRotationBody, 202);
  });
  app.get('/v1/host/secure-boot/rotations/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidInput('rotation_id', `'${id}' is not a rotation id`);
    sendJson(res, (await d.getSecureBootRotation(id)) satisfies SecureBootRotationBody);
  });
  app.get('/v1/instances', async (_req, res) => {
    sendJson(res, (await d.listInstances()) satisfies InstanceListBody);
  });
  app.get('/v1/instances/:uuid', async (req, res) => {
    sendJson(res, (await driverOf(res).getInfo(validateUuid(String(req.params.uuid)))) satisfies InstanceViewBody);
  });
  app.use(nvramRouter(driverOf, validator));

  app.post('/v1/instances/:uuid/:method', json, async (req, res) => {
    const method = String(req.params.method);
    if (!isInstanceMethod(method) || !validator.has(method)) throw new NovaError('NotFound', 404, `Unknown driver method '${method}'.`);
    const uuid = validateUuid(String(req.params.uuid));
    sendJson(res, await callInstanceMethod(driverOf(res), method, uuid, validator.parseArgs(method, req.body)));
  });

  for (const make of opts.extraRouters ?? []) app.use(make(driverOf));

  app.use((_req: Request, _res: Response, next: NextFunction) => next(new NovaError('NotFound', 404, 'No such resource.')));

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const rid = String(res.locals.requestId ?? '');
    let e: NovaError;
    if (isNovaError(err)) e = err;
    else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.parse.failed') e = new InvalidInput('body', 'malformed JSON');
    else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.too.large') e = new InvalidInput('body', 'request body too large');
    else {
      opts.log.error('unexpected error', { request_id: rid, error: String((err as Error)?.message ?? err), stack: (err as Error)?.stack });
      e = new NovaError('InternalError', 500, `Unexpected error; see the sidecar log for request ${rid}.`);
    }
    if (e.code >= 500 && isNovaError(err))
      opts.log.error('request failed', { request_id: rid, type: e.type, error: e.message, cause: String((e.cause as Error)?.message ?? '') });
    sendJson(res, { error: { type: e.type, code: e.code, message: e.message, request_id: rid, ...(e.details ? { details: e.details } : {}) } }, e.code);
  });

  return app;
}
