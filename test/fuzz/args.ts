/**
 * The fuzzer's syscall arguments as data: a command carries an ArgSpec (plain,
 * printable, shrinkable), and `materialize` turns it into the object user code would
 * pass at the moment the command runs (a frozen struct, a Proxy that throws, ...).
 * A reproducer prints the spec; replaying it builds the same hostile object again.
 *
 *   Val      a field value: numbers (NaN, -1, 2^64, fractions too), bigints, strings,
 *            null/undefined, an array of Vals, or a nested struct
 *   ArgSpec  { t: 'tmpl' }: the request's own struct (the field names of its uapi
 *            struct, from REQUEST_FIELDS) filled from `pool`, one field maybe dropped,
 *            maybe an unknown field added, wrapped as `wrap` says;
 *            { t: 'raw' }: any Val as the whole argument (a wrong type, a number
 *            where a struct belongs, ...)
 */
import fc from 'fast-check';

export type Wrap =
  | 'plain' // an ordinary object
  | 'frozen' // Object.freeze
  | 'sealed' // Object.seal (fields writable, none can be added)
  | 'nonext' // Object.preventExtensions
  | 'readonly' // the first field read-only
  | 'getter' // the first field a getter (returns its value)
  | 'throwingGetter' // the first field a getter that throws
  | 'setterProto' // the first field is a setter on the prototype (and absent)
  | 'proxyThrow' // a Proxy whose every trap throws
  | 'proxyPlain' // a transparent Proxy
  | 'revoked' // a revoked Proxy
  | 'array'; // the fields' values as an array (the wrong shape)

export type Val = number | bigint | string | boolean | null | undefined | { arr: Val[] } | { obj: Record<string, Val>; wrap: Wrap };

export type ArgSpec =
  | { t: 'tmpl'; pool: Val[]; drop: number; extra: boolean; wrap: Wrap }
  | { t: 'raw'; v: Val };

/** Numbers a C field may meet: small valid-looking ones mostly, then every kind of edge. */
export const numArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 16 }) },
  { weight: 2, arbitrary: fc.constantFrom(-1, -2, 256, 512, 4096, 0x10000, 1 << 20, 0x7fffffff, 0xffffffff) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 1.5, -0, 2 ** 32, 2 ** 53, 2 ** 64, -(2 ** 63), Number.MAX_VALUE) },
);

const scalarVal: fc.Arbitrary<Val> = fc.oneof(
  { weight: 12, arbitrary: numArb },
  { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 64n), max: 1n << 65n }) },
  { weight: 1, arbitrary: fc.constantFrom<Val>('', 'naa.5001405000000001', '/tmp/f0', 'x'.repeat(300), 'NaN', '1') },
  { weight: 1, arbitrary: fc.constantFrom<Val>(null, undefined, true, false) },
);

export const wrapArb: fc.Arbitrary<Wrap> = fc.oneof(
  { weight: 60, arbitrary: fc.constant<Wrap>('plain') },
  { weight: 1, arbitrary: fc.constantFrom<Wrap>('frozen', 'sealed', 'nonext', 'readonly', 'getter', 'throwingGetter', 'setterProto', 'proxyThrow', 'proxyPlain', 'revoked', 'array') },
);

export const valArb: fc.Arbitrary<Val> = fc.oneof(
  { weight: 20, arbitrary: scalarVal },
  { weight: 1, arbitrary: fc.array(scalarVal, { maxLength: 3 }).map((arr) => ({ arr })) },
  { weight: 1, arbitrary: fc.record({ obj: fc.dictionary(fc.constantFrom('value', 'index', 'fd', 'num', 'worker_id'), scalarVal, { maxKeys: 2 }), wrap: wrapArb }) },
);

export const argSpecArb: fc.Arbitrary<ArgSpec> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('tmpl' as const),
      pool: fc.array(valArb, { minLength: 1, maxLength: 6 }),
      drop: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(6) }),
      extra: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      wrap: wrapArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('raw' as const), v: valArb }) },
);

/** A field list entry: a name, or a nested struct / array of structs. */
export type Field = string | { name: string; fields: Field[]; array?: number };

/** Fields holding strings in the uapi structs the model knows. */
const STRING_FIELDS = new Set(['lo_file_name', 'lo_crypt_name', 'lo_encrypt_key', 'vhost_wwpn']);

/** Fields holding a file descriptor: a small pool number there picks one of the caller's open fds. */
const FD_FIELDS = new Set(['fd', 'addr']);

/** How a small number in an fd field becomes one of the caller's fds (world.ts passes it; identity by default). */
export type FdMap = (v: unknown) => unknown;

/**
 * Build an object of `fields` from the pool (field i takes pool[i % n]); a primitive in a
 * char[] field becomes a string, an object stays one (a frozen or revoked one is the
 * hostile user buffer the kernel's copy must fault on; String() of a revoked Proxy throws).
 */
function fill(fields: readonly Field[], pool: Val[], at: { i: number }, fd: FdMap): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of fields) {
    if (typeof f === 'string') {
      const v = materializeVal(pool[at.i++ % pool.length]);
      o[f] = STRING_FIELDS.has(f) ? (typeof v === 'string' || v === undefined || (typeof v === 'object' && v !== null) ? v : `s${String(v)}`) : FD_FIELDS.has(f) ? fd(v) : v;
    } else if (f.array !== undefined) {
      o[f.name] = Array.from({ length: f.array }, () => fill(f.fields, pool, at, fd));
    } else {
      o[f.name] = fill(f.fields, pool, at, fd);
    }
  }
  return o;
}

function wrap(o: Record<string, unknown>, w: Wrap): unknown {
  const keys = Object.keys(o);
  const first = keys[0] ?? 'value';
  switch (w) {
    case 'plain':
      return o;
    case 'frozen':
      return Object.freeze(o);
    case 'sealed':
      return Object.seal(o);
    case 'nonext':
      return Object.preventExtensions(o);
    case 'readonly':
      return Object.defineProperty(o, first, { value: o[first], writable: false, enumerable: true, configurable: false });
    case 'getter': {
      const v = o[first];
      return Object.defineProperty(o, first, { get: () => v, enumerable: true, configurable: true });
    }
    case 'throwingGetter':
      return Object.defineProperty(o, first, { get: () => { throw new Error('fuzz: a getter that throws'); }, enumerable: true, configurable: true });
    case 'setterProto': {
      delete o[first];
      const proto = Object.defineProperty({}, first, { set: () => { throw new Error('fuzz: an inherited setter ran'); } });
      return Object.assign(Object.create(proto) as object, o);
    }
    case 'proxyThrow': {
      const trap = (): never => { throw new Error('fuzz: a Proxy trap that throws'); };
      return new Proxy(o, {
        get: trap, set: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, defineProperty: trap,
        deleteProperty: trap, getPrototypeOf: trap, isExtensible: trap, preventExtensions: trap,
      });
    }
    case 'proxyPlain':
      return new Proxy(o, {});
    case 'revoked': {
      const r = Proxy.revocable(o, {});
      r.revoke();
      return r.proxy;
    }
    case 'array':
      return Object.values(o);
  }
}

export function materializeVal(v: Val): unknown {
  if (v === null || typeof v !== 'object') return v;
  if ('arr' in v) return v.arr.map(materializeVal);
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v.obj)) o[k] = materializeVal(x);
  return wrap(o, v.wrap);
}

/**
 * The argument `spec` describes, for a request whose struct has `fields` ('scalar': the
 * request takes a value; 'fd': a value that is an fd; 'none': no argument; 'box': a
 * scalar _IOR box { value }).
 */
export function materialize(spec: ArgSpec, fields: readonly Field[] | 'scalar' | 'fd' | 'box' | 'none', fd: FdMap = (v) => v): unknown {
  if (spec.t === 'raw') return materializeVal(spec.v);
  if (fields === 'none') return spec.drop >= 0 ? materializeVal(spec.pool[0]) : undefined;
  if (fields === 'scalar') return materializeVal(spec.pool[0]);
  if (fields === 'fd') return fd(materializeVal(spec.pool[0]));
  const list: Field[] = fields === 'box' ? ['value'] : [...fields];
  if (spec.drop >= 0 && list.length > 0) list.splice(spec.drop % list.length, 1);
  const o = fill(list, spec.pool, { i: 0 }, fd);
  if (spec.extra) o['__fuzz_extra'] = 1;
  return wrap(o, spec.wrap);
}

/** A comparable picture of a user argument (a Proxy is pictured as 'proxy': its target is not reachable). */
export function look(arg: unknown): string {
  if (typeof arg !== 'object' || arg === null) return typeof arg === 'bigint' ? `${arg}n` : String(arg);
  try {
    const seen = new Set<unknown>();
    return JSON.stringify(arg, function (this: unknown, _k, v: unknown) {
      if (typeof v === 'bigint') return `${v}n`;
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[cycle]';
        seen.add(v);
      }
      return v;
    }) + (Object.isFrozen(arg) ? ' frozen' : '') + (Object.isExtensible(arg) ? '' : ' nonext');
  } catch {
    return 'proxy';
  }
}
