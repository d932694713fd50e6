/**
 * @module nova/instance
 * A Nova instance parsed once, where a driver call enters (`ShimDriver`, before any flow
 * runs): its uuid checked against the path's, its `id`, its domain name, its sizing, its
 * image properties and flavor extra specs, as one typed value the flows read instead of
 * deriving and validating each again. Bad input is `InvalidInput` naming the field, as before.
 *
 * The domain name is derived here and only here: Nova's `instance.name` when the backend's
 * domains are Nova's (`namedByNova`) and Nova sent it, else `[DEFAULT] instance_name_template`
 * applied to the instance (nova/naming), validated as one file-name component (nvram/paths).
 * A call that never needs the name (a reboot reads the record's) is not refused for an
 * instance whose name cannot be derived: `name` throws when read, `nameIfKnown` answers null.
 */
import { InvalidInput } from '../errors';
import { validateDomainName } from '../nvram/paths';
import { validateInstanceId, validateUuid } from './ids';
import { instanceName } from './naming';
import type { InstanceToDestroy, NovaFlavor, NovaImageMeta, NovaInstance } from './objects';

/** How domain names are derived on this host (a reload may change the template). */
export interface NamingRules {
  /** `[DEFAULT] instance_name_template`. */
  template: string;
  /** The backend's domains are Nova's own (`Hypervisor.namedByNova`): `instance.name` is the domain name. */
  namedByNova: boolean;
}

export interface Sizing {
  vcpus: number;
  memoryMb: number;
  extraSpecs: Record<string, string>;
}

/** vCPUs and memory: explicit flavor, then instance.flavor, then instance fields, then 1 vCPU / 512 MiB. */
export function sizingOf(instance: NovaInstance | InstanceToDestroy, flavor?: NovaFlavor): Sizing {
  const f = flavor ?? instance.flavor ?? {};
  return {
    vcpus: Number(f.vcpus ?? instance.vcpus ?? 1),
    memoryMb: Number(f.memory_mb ?? instance.memory_mb ?? 512),
    extraSpecs: { ...(f.extra_specs ?? {}) },
  };
}

/** The domain name of `instance` under `rules`, validated as one file-name component. */
export function domainNameOf(instance: NovaInstance | InstanceToDestroy, rules: NamingRules): string {
  if (rules.namedByNova && instance.name) return validateDomainName(instance.name, 'instance.name');
  validateInstanceId(instance.id);
  return validateDomainName(instanceName(rules.template, instance), 'instance name');
}

/** `id` when it is a valid instance id, else undefined (a tolerant parse leaves it out). */
function idIfValid(id: unknown): number | undefined {
  try {
    return validateInstanceId(id);
  } catch (e) {
    if (e instanceof InvalidInput) return undefined;
    throw e;
  }
}

/** The arguments of a Nova instance call the parse reads. */
export interface InstanceArgs {
  /** Destroy and cleanup take an InstanceToDestroy: its uuid and whichever other fields were well-formed. */
  instance: NovaInstance | InstanceToDestroy;
  flavor?: NovaFlavor;
  image_meta?: NovaImageMeta;
}

/** One Nova instance as the flows read it. */
export class ParsedInstance {
  /** The instance's uuid, lower case (the path's). */
  readonly uuid: string;
  /** `instance.id` when sent: an integer in 1 … 2^53 - 1. */
  readonly id: number | undefined;
  /** vCPUs, memory and flavor extra specs: the call's flavor, else the instance's (see `sizingOf`). */
  readonly sizing: Sizing;
  /** `image_meta.properties` (a copy; empty without image). */
  readonly imageProps: Record<string, unknown>;
  /** The instance as Nova sent it (task and vm state, host, system metadata). */
  readonly nova: NovaInstance | InstanceToDestroy;
  private derived: { name: string } | { error: unknown } | undefined;
  /** The flavor the call sent, if any. */
  private readonly flavor: NovaFlavor | undefined;

  private constructor(
    uuid: string,
    a: InstanceArgs,
    private readonly rules: NamingRules,
    tolerant: boolean,
  ) {
    this.uuid = uuid;
    this.flavor = a.flavor;
    this.nova = a.instance;
    this.id = tolerant ? idIfValid(a.instance.id) : validateInstanceId(a.instance.id);
    this.sizing = sizingOf(a.instance, a.flavor);
    this.imageProps = { ...(a.image_meta?.properties ?? {}) };
  }

  /**
   * Parse the instance of a call on `pathUuid`: `InvalidInput` naming `instance` when it is
   * missing, `instance.uuid` when it is not the path's, `instance.id` when it is no id.
   * `tolerant` (destroy and cleanup, which need only the uuid): an unusable id is left out
   * instead, and `nameIfKnown` answers null for a name that cannot be derived.
   */
  static parse(pathUuid: string, a: InstanceArgs | undefined, rules: NamingRules, tolerant = false): ParsedInstance {
    const uuid = validateUuid(pathUuid);
    const instance = a?.instance;
    if (!instance || typeof instance !== 'object') throw new InvalidInput('instance', 'required');
    if (String(instance.uuid).toLowerCase() !== uuid) {
      throw new InvalidInput('instance.uuid', `'${String(instance.uuid)}' does not match the path's instance_uuid '${uuid}'`);
    }
    return new ParsedInstance(uuid, a, rules, tolerant);
  }

  /** The domain name (see the module); `InvalidInput` naming the field when it cannot be derived. Derived once. */
  get name(): string {
    if (!this.derived) {
      try {
        this.derived = { name: domainNameOf(this.nova, this.rules) };
      } catch (error) {
        this.derived = { error };
      }
    }
    if ('error' in this.derived) throw this.derived.error;
    return this.derived.name;
  }

  /**
   * `name`, or null when the instance carries neither a usable name nor a usable id (destroy's
   * look-up of a store left without a record: never a reason to refuse the call).
   */
  get nameIfKnown(): string | null {
    if (this.id === undefined && !(this.rules.namedByNova && this.nova.name)) return null;
    try {
      return this.name;
    } catch (e) {
      if (e instanceof InvalidInput) return null;
      throw e;
    }
  }

  /** `sizing` with `flavor` in place of the instance's own when the call sent none (a rebuild keeps the record's). */
  sizingOr(flavor: NovaFlavor): Sizing {
    return sizingOf(this.nova, this.flavor ?? flavor);
  }
}
