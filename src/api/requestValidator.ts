/**
 * @module api/requestValidator
 * Runtime request validation against the same OpenAPI document the types are generated
 * from (`openapi/nova-uefi-shim.yaml`), with Ajv (JSON Schema 2020-12, as OpenAPI 3.1).
 * Failures become `InvalidInput` naming the offending field in Nova's dotted form
 * (`image_meta.properties.hw_firmware_type`).
 */
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import type Ajv2020 from 'ajv/dist/2020';
import { InvalidInput } from '../errors';
import { unwrap } from '../nova/objects';
import type { ArgsFor, InstanceMethodName } from '../driver/contract';
import type { InstanceToDestroy } from '../nova/objects';
import { loadOpenApi, openApiAjv, sharedOpenApiAjv, type OpenApiDoc } from '../util/openapiDoc';

export { OPENAPI_JSON_PATH, OPENAPI_PATH, loadOpenApi, type OpenApiDoc } from '../util/openapiDoc';

/** The little of a schema object `RequestValidator` reads itself. */
interface SchemaObject {
  properties?: Record<string, { $ref?: string }>;
}

/** The field an Ajv error is about, in Nova's dotted form (`image_meta.properties.hw_firmware_type`). */
function fieldOf(e: ErrorObject): string {
  const base = e.instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    // A versioned-object envelope is transparent to the caller's view of the field.
    .filter((s) => s !== 'nova_object.data')
    .join('.');
  const extra =
    e.keyword === 'required'
      ? String((e.params as { missingProperty?: string }).missingProperty)
      : e.keyword === 'additionalProperties'
        ? String((e.params as { additionalProperty?: string }).additionalProperty)
        : '';
  return [base, extra].filter(Boolean).join('.') || 'body';
}

function dataAt(body: unknown, pointer: string): unknown {
  let cur: unknown = body;
  for (const part of pointer.split('/').filter(Boolean)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return cur;
}

const isEnvelope = (v: unknown) => !!v && typeof v === 'object' && 'nova_object.name' in v;

/**
 * The most useful error: drop the umbrella anyOf/allOf entries and the errors of the branch
 * that does not fit the data's form (plain JSON vs versioned-object primitive), then take
 * the deepest path.
 */
function bestError(errors: ErrorObject[], body: unknown): ErrorObject {
  const fits = (e: ErrorObject) => {
    if (['anyOf', 'allOf', 'oneOf', 'if'].includes(e.keyword)) return false;
    const here = dataAt(body, e.instancePath);
    const envelopeBranch =
      /\/allOf\//.test(e.schemaPath) || String((e.params as { missingProperty?: string }).missingProperty ?? '').startsWith('nova_object.');
    if (e.keyword === 'required') return envelopeBranch ? isEnvelope(here) : !isEnvelope(here);
    if (e.keyword === 'const' && e.instancePath.endsWith('nova_object.name')) return true;
    return true;
  };
  const pool = errors.filter(fits);
  const use = pool.length ? pool : errors;
  return use.reduce((a, b) => (fieldOf(b).split('.').length > fieldOf(a).split('.').length ? b : a));
}

export class RequestValidator {
  private readonly ajv: Ajv2020;
  /** operationId → its request schema's `$ref`. */
  private readonly refs = new Map<string, string>();
  /** Validators compiled so far: each on first use (compiling all of them took ~130 ms at start-up). */
  private readonly byOperation = new Map<string, ValidateFunction>();
  /** Validators of Instance's fields, for `wellFormedInstance`. */
  private readonly byField = new Map<string, ValidateFunction>();
  private readonly schemas: Record<string, SchemaObject>;

  /**
   * @param onIgnored told which fields of an InstanceToDestroy were left out (destroy and
   *   cleanup go on without them; the caller logs them).
   */
  constructor(
    doc: OpenApiDoc = loadOpenApi(),
    private readonly onIgnored: (operationId: string, fields: string[]) => void = () => undefined,
  ) {
    this.ajv = doc === loadOpenApi() ? sharedOpenApiAjv() : openApiAjv(doc);
    this.schemas = (doc as { components?: { schemas?: Record<string, SchemaObject> } }).components?.schemas ?? {};
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        const ref = op?.requestBody?.content?.['application/json']?.schema?.$ref;
        if (op?.operationId && ref) this.refs.set(op.operationId, ref);
      }
    }
  }

  operations(): string[] {
    return [...this.refs.keys()];
  }

  has(operationId: string): boolean {
    return this.refs.has(operationId);
  }

  private validator(operationId: string): ValidateFunction | undefined {
    let fn = this.byOperation.get(operationId);
    const ref = this.refs.get(operationId);
    if (!fn && ref) {
      fn = this.ajv.compile({ $ref: `openapi${ref}` });
      this.byOperation.set(operationId, fn);
    }
    return fn;
  }

  /**
   * The arguments of an instance method: `body` validated against the method's request
   * schema (InvalidInput naming the field otherwise), then unwrapped from versioned objects.
   * The one place a request body becomes a typed argument: the schema it just passed is the
   * one the type is generated from (`wire.ArgsOf`).
   */
  parseArgs<M extends InstanceMethodName>(method: M, body: unknown): ArgsFor<M> {
    this.validate(method, body);
    const args = unwrap(body) as ArgsFor<M>;
    if (this.takesInstanceToDestroy(method)) {
      const a = args as { instance: Record<string, unknown> };
      const { instance, dropped } = this.wellFormedInstance(a.instance);
      a.instance = instance;
      if (dropped.length) this.onIgnored(method, dropped);
    }
    return args;
  }

  /** Whether the operation's `instance` is an InstanceToDestroy (only its uuid is needed). */
  takesInstanceToDestroy(operationId: string): boolean {
    const ref = this.refs.get(operationId);
    const name = ref?.split('/').pop();
    const schema = name ? this.schemas[name] : undefined;
    return schema?.properties?.instance?.$ref === '#/components/schemas/InstanceToDestroyArg';
  }

  /**
   * An instance that destroy or cleanup took (its uuid already checked): each other field
   * kept only when Instance's schema accepts it; the ones that it refuses, and the ones it
   * does not describe, are left out (`dropped` names the refused ones). Those operations are
   * never refused for a field they can do without.
   */
  wellFormedInstance(instance: Record<string, unknown>): { instance: InstanceToDestroy; dropped: string[] } {
    const props = this.schemas.Instance?.properties ?? {};
    const out: Record<string, unknown> = { uuid: instance.uuid };
    const dropped: string[] = [];
    for (const [field, value] of Object.entries(instance)) {
      if (field === 'uuid' || !(field in props)) continue;
      let fn = this.byField.get(field);
      if (!fn) {
        fn = this.ajv.compile({ $ref: `openapi#/components/schemas/Instance/properties/${field}` });
        this.byField.set(field, fn);
      }
      if (fn(value)) out[field] = value;
      else dropped.push(`instance.${field}`);
    }
    return { instance: out as InstanceToDestroy, dropped };
  }

  /** Throw InvalidInput naming the field when `body` does not match the operation's schema. */
  validate(operationId: string, body: unknown): void {
    const fn = this.validator(operationId);
    if (!fn) throw new InvalidInput('method', `'${operationId}' has no request schema`);
    if (!fn(body)) {
      const e = bestError(fn.errors ?? [], body);
      let reason = e.message ?? 'is invalid';
      if (e.keyword === 'enum') reason += `: ${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues)}`;
      throw new InvalidInput(fieldOf(e), reason);
    }
  }
}
