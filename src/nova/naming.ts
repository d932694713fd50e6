/**
 * @module nova/naming
 * libvirt domain names the way Nova derives `Instance.name`: `CONF.instance_name_template
 * % self.id`, or, when the template uses named keys (`%(uuid)s`), `% {instance fields}`.
 * A serialized Instance carries `id` and `uuid` but no `name`, so the sidecar must derive it.
 * Only the printf subset Nova templates use is supported: %d %i %u %x %X %o %s with flags
 * `0`, `-`, width, and `%%`.
 */
import { InvalidInput } from '../errors';

const SPEC = /%(?:\(([A-Za-z_][A-Za-z0-9_]*)\))?([-0 ]*)(\d*)([diuxXos%])/g;

function fmtOne(value: unknown, flags: string, width: string, conv: string, field: string): string {
  let s: string;
  if (conv === 's') s = String(value);
  else {
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n)) throw new InvalidInput(field, `'${String(value)}' is not an integer for %${conv}`);
    const neg = n < 0;
    const abs = Math.abs(n);
    s = conv === 'x' ? abs.toString(16) : conv === 'X' ? abs.toString(16).toUpperCase() : conv === 'o' ? abs.toString(8) : abs.toString(10);
    if (neg) s = '-' + s;
  }
  const w = width ? parseInt(width, 10) : 0;
  if (s.length >= w) return s;
  if (flags.includes('-')) return s.padEnd(w, ' ');
  if (flags.includes('0') && conv !== 's') return s.startsWith('-') ? '-' + s.slice(1).padStart(w - 1, '0') : s.padStart(w, '0');
  return s.padStart(w, ' ');
}

/** Apply a Python %-template the way Nova builds `Instance.name`. */
export function instanceName(template: string, instance: { id?: number; uuid: string; [k: string]: unknown }): string {
  const named = /%\([A-Za-z_]/.test(template);
  if (!named && instance.id === undefined) {
    if (/%[-0 ]*\d*[diuxXos]/.test(template)) throw new InvalidInput('instance.id', 'required to derive the domain name from instance_name_template');
  }
  return template.replace(SPEC, (_m, key: string | undefined, flags: string, width: string, conv: string) => {
    if (conv === '%') return '%';
    if (key) {
      const v = instance[key];
      if (v === undefined || v === null) throw new InvalidInput(`instance.${key}`, 'required by instance_name_template');
      return fmtOne(v, flags, width, conv, `instance.${key}`);
    }
    return fmtOne(instance.id, flags, width, conv, 'instance.id');
  });
}
