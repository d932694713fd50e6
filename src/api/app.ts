/**
 * @module api/app
 * The express application: request ids (`X-OpenStack-Request-ID`, generated as
 * `req-<uuid>` when absent, echoed, carried by every log line the request causes through
 * the driver's `forRequest`), bearer-token auth (all but /healthz, /readyz and, when
 * `[api] metrics_open`, /metrics), request validation against the OpenAPI document,
 * versioned-object unwrapping, one route per Nova method, JSON answers through `sendJson`,
 * and one error middleware that maps `NovaError`s to `{"error": {"type", "code", "message"}}`
 * and anything else to a 500 without a stack.
 *
 * Every answer is counted and timed by HTTP method, route template (never the raw path: one
 * series per instance would grow without bound) and status, when `metrics` is given.
 * `/healthz` is liveness (the process answers); `/readyz` runs the readiness checks it is
 * given and answers 200 or 503 with what is not ready: by check name alone without the bearer
 * token, with each check's detail with it. `/openapi.json` is the OpenAPI document
 * the requests are validated with (static, nothing secret: served without the token). A
 * known path asked with a method it does not serve answers 405 with `Allow`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { ApiDriver } from '../driver/services';
import { InternalError, InvalidInput, MethodNotAllowed, NotFound, ServiceUnavailable, Unauthorized, isNovaError, type NovaError } from '../errors';
import type { Logger } from '../util/log';
import { RequestValidator, loadOpenApi } from './requestValidator';
import { allowedMethods } from './routeTable';
import { nvramRouter } from './nvramRoutes';
import { replicaRouter } from './replicaRoutes';
import { callInstanceMethod, isInstanceMethod } from './methods';
import { validateUuid } from '../nova/ids';
import { PEER_PREFIX } from '../peer/protocol';
import type {
  CapabilitiesBody,
  FirmwareInventoryBody,
  InstanceListBody,
  ReplicaInstancesBody,
  InstanceViewBody,
  ReadinessBody,
  SecureBootInventoryBody,
  SecureBootRotationBody,
  SecureBootRotationRequestBody,
} from '../wire';
import { jsonBody, sendJson } from './json';
import { requestDriver, type DriverOf } from './context';
import type { Metrics } from '../metrics';

/** The `[api]` options a reload may change while the app serves (read on every request). */
export interface ApiSettings {
  auth_token: string;
  metrics_open: boolean;
}

/** One readiness check's result (the OpenAPI `Readiness` check). */
export type ReadinessCheck = ReadinessBody['checks'][number];

export interface AppOptions {
  driver: ApiDriver;
  log: Logger;
  /** The current `[api]` settings (a reload swaps what this returns). */
  settings: () => ApiSettings;
  host: string;
  backend: string;
  /** Records requests and serves GET /metrics; without it neither exists (metrics_enabled = false). */
  metrics?: Metrics;
  /** True once the sidecar is stopping: requests other than /healthz and /readyz get 503. */
  stopping?: () => boolean;
  /** The readiness checks behind GET /readyz (all pass: 200). */
  readiness?: () => Promise<ReadinessCheck[]>;
  /** Extra routers mounted before the error handler (peer endpoints), given the request's driver. */
  extraRouters?: ((driverOf: DriverOf) => express.Router)[];
}

const REQ_ID_RE = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function tokenMatches(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The route template that answered (`/v1/instances/:uuid`), or `unmatched`. */
function routeOf(req: Request): string {
  const p = (req.route as { path?: unknown } | undefined)?.path;
  return typeof p === 'string' ? p : 'unmatched';
}

/**
 * A rotation's `selection` is an object; the short forms an operator tries first (`"all"`,
 * a list of uuids) are refused with the accepted form in the message.
 */
function rotationShape(body: unknown): void {
  const sel = body && typeof body === 'object' ? (body as { selection?: unknown }).selection : undefined;
  if (sel === undefined || (sel && typeof sel === 'object' && !Array.isArray(sel))) return;
  throw new InvalidInput(
    'selection',
    `must be an object: {"all": true}, {"instances": ["<uuid>", ...]} or {"where": {"kek_lacks": "..."}}; got ${JSON.stringify(sel)}`,
  );
}

export function createApp(opts: AppOptions): express.Express {
  const app = express();
  const validator = new RequestValidator(undefined, (operation, fields) =>
    opts.log.warning('ill-formed instance fields ignored (the operation does not need them)', { operation, fields }),
  );
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(opts));

  app.get('/healthz', (_req, res) => {
    sendJson(res, { status: 'ok', host: opts.host, backend: opts.backend });
  });
  app.get('/openapi.json', (_req, res) => {
    sendJson(res, loadOpenApi());
  });
  const stopping = opts.stopping;
  if (stopping) app.use(refuseWhileStopping(stopping));
  const readiness = opts.readiness;
  if (readiness) app.get('/readyz', readinessHandler(opts, readiness));
  app.use(bearerAuth(opts));
  const metrics = opts.metrics;
  if (metrics) app.get('/metrics', metricsHandler(metrics));

  const driverOf = requestDriver(opts.driver);
  app.use(hostRouter(opts.driver, driverOf, validator));
  app.use(nvramRouter(driverOf, validator));
  app.use(replicaRouter(driverOf, validator));
  app.post('/v1/instances/:uuid/:method', jsonBody('16mb', false), async (req, res) => {
    const method = String(req.params.method);
    if (!isInstanceMethod(method) || !validator.has(method)) throw new NotFound(`Unknown driver method '${method}'.`);
    const uuid = validateUuid(String(req.params.uuid));
    sendJson(res, await callInstanceMethod(driverOf(res), method, uuid, validator.parseArgs(method, req.body)));
  });
  for (const make of opts.extraRouters ?? []) app.use(make(driverOf));

  app.use(notFoundOr405);
  app.use(errorHandler(opts.log));
  return app;
}

/** Every request: its id (given or made), its log line and, with metrics, its count and time. */
function requestLog(opts: AppOptions) {
  return (req: Request, res: Response, next: NextFunction) => {
    const given = req.header('x-openstack-request-id');
    const rid = given && REQ_ID_RE.test(given) ? given : `req-${randomUUID()}`;
    res.locals.requestId = rid;
    res.setHeader('X-OpenStack-Request-ID', rid);
    const started = performance.now();
    const metrics = opts.metrics;
    res.on('finish', () => {
      const ms = performance.now() - started;
      opts.log.info('request', { request_id: rid, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms) });
      if (metrics) {
        const labels = { method: req.method, route: routeOf(req), status: String(res.statusCode) };
        metrics.httpRequests.inc(labels);
        metrics.httpDuration.observe(labels, ms / 1000);
      }
    });
    next();
  };
}

/** Once the sidecar is stopping: every request but /readyz refused (503), its connection closed. */
function refuseWhileStopping(stopping: () => boolean) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!stopping() || req.path === '/readyz') return next();
    // A request on a kept-alive connection after SIGTERM: refused, and the connection closed.
    res.setHeader('Connection', 'close');
    next(new ServiceUnavailable('The sidecar is shutting down; retry once it is back.'));
  };
}

/** GET /readyz: the checks' verdict; their details only to a caller with the bearer token. */
function readinessHandler(opts: AppOptions, readiness: () => Promise<ReadinessCheck[]>) {
  return async (req: Request, res: Response) => {
    const checks = await readiness();
    const failing = checks.filter((c) => !c.ok);
    // Without the bearer token (a load balancer): ready or not and the names of the checks,
    // never their details (paths, config text, a refused reload's problems).
    const token = opts.settings().auth_token;
    const m = /^Bearer\s+(.+)$/i.exec(req.header('authorization') ?? '');
    const trusted = !token || (!!m && tokenMatches(m[1].trim(), token));
    const body: ReadinessBody = trusted
      ? { status: failing.length ? 'not ready' : 'ready', host: opts.host, not_ready: failing.map((c) => `${c.name}: ${c.detail}`), checks }
      : { status: failing.length ? 'not ready' : 'ready', not_ready: failing.map((c) => c.name), checks: checks.map((c) => ({ name: c.name, ok: c.ok })) };
    sendJson(res, body, failing.length ? 503 : 200);
  };
}

/** The bearer token on everything after this point but the peer routes (signed) and an open /metrics. */
function bearerAuth(opts: AppOptions) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const { auth_token: token, metrics_open: metricsOpen } = opts.settings();
    if (!token || req.path.startsWith(PEER_PREFIX) || (metricsOpen && req.path === '/metrics')) return next();
    const h = req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m) return next(new Unauthorized('missing bearer token'));
    if (!tokenMatches(m[1].trim(), token)) return next(new Unauthorized('wrong bearer token'));
    next();
  };
}

/** GET /metrics: the Prometheus exposition. */
function metricsHandler(metrics: Metrics) {
  return async (_req: Request, res: Response) => {
    const { contentType, text } = await metrics.exposition();
    res.statusCode = 200;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };
}

/** /v1/host/... and the instance list and view. */
function hostRouter(d: ApiDriver, driverOf: DriverOf, validator: RequestValidator): express.Router {
  const r = express.Router();
  const json = jsonBody('16mb', false);
  r.get('/v1/host/capabilities', (_req, res) => {
    sendJson(res, d.capabilities() satisfies CapabilitiesBody);
  });
  r.get('/v1/host/firmware', (_req, res) => {
    sendJson(res, d.firmwareView() satisfies FirmwareInventoryBody);
  });
  r.get('/v1/host/secure-boot', async (_req, res) => {
    sendJson(res, (await d.secureBootInventory()) satisfies SecureBootInventoryBody);
  });
  r.get('/v1/host/secure-boot/rotations', async (_req, res) => {
    sendJson(res, await d.listSecureBootRotations());
  });
  r.post('/v1/host/secure-boot/rotations', json, async (req, res) => {
    rotationShape(req.body);
    validator.validate('create_secure_boot_rotation', req.body);
    sendJson(res, (await driverOf(res).startSecureBootRotation(req.body as SecureBootRotationRequestBody)) satisfies SecureBootRotationBody, 202);
  });
  r.get('/v1/host/secure-boot/rotations/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidInput('rotation_id', `'${id}' is not a rotation id`);
    sendJson(res, (await d.getSecureBootRotation(id)) satisfies SecureBootRotationBody);
  });
  r.get('/v1/host/replicas', async (_req, res) => {
    sendJson(res, (await d.replicaInstances()) satisfies ReplicaInstancesBody);
  });
  r.get('/v1/instances', async (_req, res) => {
    sendJson(res, (await d.listInstances()) satisfies InstanceListBody);
  });
  r.get('/v1/instances/:uuid', async (req, res) => {
    sendJson(res, (await driverOf(res).getInfo(validateUuid(String(req.params.uuid)))) satisfies InstanceViewBody);
  });
  return r;
}

/** Unknown path, or a documented method not served here: 404; a method the path never takes: 405 + Allow. */
function notFoundOr405(req: Request, res: Response, next: NextFunction): void {
  const allow = allowedMethods(req.path);
  // Unknown path, or a documented method that is not served here (GET /metrics with
  // metrics_enabled = false): 404. Only a method the path does not take at all is 405.
  if (!allow.length || allow.includes(req.method)) return next(new NotFound('No such resource.'));
  // RFC 9110 §15.5.6: a 405 names the methods the resource supports.
  res.setHeader('Allow', allow.join(', '));
  next(new MethodNotAllowed(`${req.method} is not allowed on ${req.path}; use ${allow.join(' or ')}.`));
}

/** Every error as Nova's `{"error": {type, code, message, request_id}}`; anything unexpected a 500 without a stack. */
function errorHandler(log: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const rid = String(res.locals.requestId ?? '');
    let e: NovaError;
    if (isNovaError(err)) e = err;
    else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.parse.failed') e = new InvalidInput('body', 'malformed JSON');
    else if (err && typeof err === 'object' && (err as { type?: string }).type === 'entity.too.large') e = new InvalidInput('body', 'request body too large');
    else if (err && typeof err === 'object' && ['charset.unsupported', 'encoding.unsupported'].includes(String((err as { type?: string }).type)))
      // RFC 9110 §15.5.16: a body in a charset or content coding the resource does not take.
      e = new InvalidInput('body', `${(err as Error).message} (JSON bodies are UTF-8)`, 415);
    else {
      log.error('unexpected error', { request_id: rid, error: String((err as Error)?.message ?? err), stack: (err as Error)?.stack });
      e = new InternalError(`Unexpected error; see the sidecar log for request ${rid}.`);
    }
    if (e.code >= 500 && isNovaError(err))
      log.error('request failed', { request_id: rid, type: e.type, error: e.message, cause: String((e.cause as Error)?.message ?? '') });
    sendJson(res, { error: { type: e.type, code: e.code, message: e.message, request_id: rid, ...(e.details ? { details: e.details } : {}) } }, e.code);
  };
}
