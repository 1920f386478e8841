/**
 * The model's user-memory access (arch/x86/include/asm/uaccess.h: get_user,
 * copy_from_user, copy_to_user). In kwq "user memory" is the plain object user code
 * passes to an ioctl or syscall (DESIGN.md, the public API contract), so a bad user
 * pointer is an argument that cannot be read or written as one:
 *
 *   read  (copy_from_user)   not an object; a field that is an accessor (a getter is
 *                            code, not memory: it could re-enter the kernel halfway
 *                            through a call); a Proxy whose trap throws        -> FAULT
 *   write (copy_to_user)     not an object; frozen, sealed or non-extensible and
 *                            missing a field; a field that is read-only or an
 *                            accessor (own or inherited); a Proxy that refuses -> false
 *
 * Either way the caller returns -EFAULT, and nothing else changed: copyToUser checks
 * every field before it writes any, and puts back what it wrote if a Proxy refuses
 * halfway (the kernel's copy_to_user may write part of a buffer before it faults; the
 * model writes all or nothing, so a rejected call leaves the caller's object as it was).
 * Nothing here throws: a user object's misbehaviour is the caller's -EFAULT, never an
 * exception out of a syscall.
 */

/** A user access that faulted: the caller returns -EFAULT. */
export const FAULT: unique symbol = Symbol('EFAULT');
export type Fault = typeof FAULT;

/** `arg` can be user memory: an object (or array), not null. */
export function isUserObject(arg: unknown): arg is Record<string, unknown> {
  return typeof arg === 'object' && arg !== null;
}

/**
 * `arg` can be a C struct: an object that is not an array (a revoked Proxy, on which
 * Array.isArray throws, is not one either).
 */
export function isUserStruct(arg: unknown): arg is Record<string, unknown> {
  if (!isUserObject(arg)) return false;
  try {
    return !Array.isArray(arg);
  } catch {
    return false;
  }
}

/**
 * The property descriptor of `key` on `o` or its prototype chain (up to, not
 * including, Object.prototype / Array.prototype), or undefined. Throws what a Proxy
 * trap throws: callers catch.
 */
function lookup(o: object, key: string): PropertyDescriptor | undefined {
  for (let p: object | null = o; p !== null && p !== Object.prototype && p !== Array.prototype; p = Reflect.getPrototypeOf(p)) {
    const d = Reflect.getOwnPropertyDescriptor(p, key);
    if (d !== undefined) return d;
  }
  return undefined;
}

/**
 * get_user of one field: its value (undefined when the field is absent, as a zeroed C
 * struct reads 0), or FAULT if `arg` is no object, the field is an accessor, or a Proxy
 * trap throws.
 */
export function getUser(arg: unknown, key: string): unknown {
  if (!isUserObject(arg)) return FAULT;
  try {
    const d = lookup(arg, key);
    if (d === undefined) return undefined;
    if (!('value' in d)) return FAULT; // an accessor: not memory
    return d.value;
  } catch {
    return FAULT;
  }
}

/** `key` is a field of the user struct (own or inherited, data or not), or FAULT if asking throws. */
export function userHas(arg: unknown, key: string): boolean | Fault {
  if (!isUserObject(arg)) return FAULT;
  try {
    return lookup(arg, key) !== undefined;
  } catch {
    return FAULT;
  }
}

/** The own enumerable field names of a user struct, or FAULT. */
export function userKeys(arg: unknown): string[] | Fault {
  if (!isUserObject(arg)) return FAULT;
  try {
    return Object.keys(arg);
  } catch {
    return FAULT;
  }
}

/**
 * The length of a user array (a C array argument), at most `maxLen`, or FAULT if it is
 * none or its length cannot be read. Its elements are then read one at a time with
 * userArrayAt, as the kernel's get_user of each pointer is (io_submit reads iocbpp[i]
 * just before submitting it), without a copy of the array.
 */
export function userArrayLength(arg: unknown, maxLen = 1 << 20): number | Fault {
  try {
    if (!Array.isArray(arg) && !ArrayBuffer.isView(arg)) return FAULT;
    // a typed array's length is a getter of its prototype (not user code); an array's is data
    const len = ArrayBuffer.isView(arg) ? (arg as unknown as ArrayLike<unknown>).length : getUser(arg, 'length');
    if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0) return FAULT;
    return Math.min(len, maxLen);
  } catch {
    return FAULT;
  }
}

/** Element `i` of a user array whose length userArrayLength gave, or FAULT. */
export function userArrayAt(arg: unknown, i: number): unknown {
  try {
    return ArrayBuffer.isView(arg) ? (arg as unknown as ArrayLike<unknown>)[i] : getUser(arg, String(i));
  } catch {
    return FAULT;
  }
}

/** A user array (a C array argument): its elements, or FAULT if it is none or cannot be read. */
export function userArray(arg: unknown, maxLen = 1 << 20): unknown[] | Fault {
  const len = userArrayLength(arg, maxLen);
  if (len === FAULT) return FAULT;
  const out: unknown[] = [];
  for (let i = 0; i < len; i++) {
    const v = userArrayAt(arg, i);
    if (v === FAULT) return FAULT;
    out.push(v);
  }
  return out;
}

/** Can `key` be written on `o` as a plain data property (without running user code)? Throws what a Proxy throws. */
function writable(o: object, key: string, extensible: boolean): boolean {
  const own = Reflect.getOwnPropertyDescriptor(o, key);
  if (own !== undefined) return 'value' in own && own.writable === true;
  if (!extensible) return false;
  // an inherited read-only field or setter would refuse or intercept a plain assignment;
  // defineProperty (below) would shadow it, but a C struct has no such field: refuse
  const inherited = lookup(o, key);
  return inherited === undefined || ('value' in inherited && inherited.writable === true);
}

/**
 * copy_to_user of `fields` into the caller's object: true if every field was written,
 * false (the caller's -EFAULT) if `arg` cannot take them all, in which case `arg` is
 * as it was. Writes own data properties (never calls a setter).
 */
export function copyToUser(arg: unknown, fields: Readonly<Record<string, unknown>>): boolean {
  if (!isUserObject(arg)) return false;
  const keys = Object.keys(fields);
  let before: (PropertyDescriptor | undefined)[];
  try {
    const ext = Reflect.isExtensible(arg);
    for (const key of keys) if (!writable(arg, key, ext)) return false;
    before = keys.map((key) => Reflect.getOwnPropertyDescriptor(arg, key));
  } catch {
    return false;
  }
  let done = 0;
  try {
    for (; done < keys.length; done++) {
      const key = keys[done]!;
      const desc: PropertyDescriptor = before[done] !== undefined
        ? { value: fields[key] }
        : { value: fields[key], writable: true, enumerable: true, configurable: true };
      if (!Reflect.defineProperty(arg, key, desc)) break;
    }
  } catch {
    // a Proxy trap threw: undo below
  }
  if (done === keys.length) return true;
  // a Proxy said yes to the checks and no to a write: put back what was written
  for (let i = 0; i < done; i++) {
    try {
      const d = before[i];
      if (d === undefined) Reflect.deleteProperty(arg, keys[i]!);
      else Reflect.defineProperty(arg, keys[i]!, d);
    } catch {
      // nothing more can be done about a Proxy that refuses its own undo
    }
  }
  return false;
}
