/**
 * copy_to_user / copy_from_user (src/kernel/uaccess.ts) and the struct-filling and
 * struct-reading ioctls that go through it. Issue 13: LOOP_GET_STATUS64 with a frozen
 * object threw a TypeError; every struct an ioctl reads or fills had the same shape.
 * A user object that cannot be read or written is a bad user pointer: -EFAULT, the
 * object untouched, the device unchanged, nothing thrown.
 */
import { describe, expect, test } from 'vitest';
import {
  EFAULT, IOCB_CMD_PWRITE, ioSetup, ioSubmit, Kernel, KVM_CREATE_DEVICE, KVM_CREATE_VM, KVM_DEV_TYPE_VFIO,
  KVM_SET_USER_MEMORY_REGION, kvmVms, LOOP_CONFIGURE, LOOP_GET_STATUS64, LOOP_SET_STATUS64, loopInfo, O_CREAT, O_RDWR,
  VHOST_GET_FEATURES, VHOST_GET_VRING_BASE, VHOST_GET_VRING_WORKER, VHOST_NEW_WORKER, VHOST_SET_MEM_TABLE, VHOST_SET_OWNER,
  VHOST_SET_VRING_NUM, type AioContext, type Task,
} from 'kwq';
import { copyToUser, FAULT, getUser, userArray, userKeys } from '../../src/kernel/uaccess.js';
import { snapshot } from '../drivers/vhost/helpers.js';

/** The hostile "user buffers" of the issue, each a fresh object. */
function hostile(fields: Record<string, unknown>): [string, () => object][] {
  const throwing = new Proxy({ ...fields }, {
    get() { throw new Error('proxy get'); },
    getOwnPropertyDescriptor() { throw new Error('proxy gOPD'); },
    defineProperty() { throw new Error('proxy define'); },
    set() { throw new Error('proxy set'); },
    has() { throw new Error('proxy has'); },
    ownKeys() { throw new Error('proxy ownKeys'); },
    isExtensible() { throw new Error('proxy isExtensible'); },
    getPrototypeOf() { throw new Error('proxy getPrototypeOf'); },
  });
  const revocable = Proxy.revocable({ ...fields }, {});
  revocable.revoke();
  return [
    ['frozen', () => Object.freeze({ ...fields })],
    ['sealed without the fields', () => Object.seal({})],
    ['non-extensible', () => Object.preventExtensions({})],
    ['a read-only field', () => Object.defineProperty({ ...fields }, Object.keys(fields)[0]!, { value: Object.values(fields)[0], writable: false, enumerable: true })],
    ['a getter-only field', () => Object.defineProperty({ ...fields }, Object.keys(fields)[0]!, { get: () => 3, enumerable: true })],
    ['an inherited setter', () => Object.create(Object.defineProperty({}, Object.keys(fields)[0]!, { set() { throw new Error('setter ran'); } }))],
    ['a Proxy that throws', () => throwing],
    ['a revoked Proxy', () => revocable.proxy],
  ];
}

/** What a non-Proxy object looks like, to compare before/after (a Proxy is compared by identity only). */
function look(o: object): string {
  try {
    return JSON.stringify(Object.getOwnPropertyDescriptors(o), (_k, v) => (typeof v === 'function' ? 'fn' : typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return 'proxy';
  }
}

describe('copyToUser', () => {
  test('writes every field into a plain object, or none: a Proxy that refuses the second field gets the first one back', () => {
    const o: Record<string, unknown> = { a: 1 };
    expect(copyToUser(o, { a: 2, b: 3 })).toBe(true);
    expect(o).toEqual({ a: 2, b: 3 });
    let defines = 0;
    const target: Record<string, unknown> = { a: 1 };
    const p = new Proxy(target, { defineProperty: (t, key, d) => (++defines === 2 ? false : Reflect.defineProperty(t, key, d)) });
    expect(copyToUser(p, { a: 2, b: 3 })).toBe(false);
    expect(target).toEqual({ a: 1 });
  });

  test('a sealed struct that has every field is written (its memory is there); numbers, strings and null are not objects', () => {
    const o = Object.seal({ value: 0 });
    expect(copyToUser(o, { value: 5 })).toBe(true);
    expect(o.value).toBe(5);
    for (const bad of [null, undefined, 0, NaN, -1, 2 ** 64, 'x', 1n]) expect(copyToUser(bad, { value: 1 })).toBe(false);
  });

  test('copy_from_user: an accessor, a throwing Proxy and a revoked Proxy fault; an absent field reads as undefined (0)', () => {
    expect(getUser({ a: 1 }, 'a')).toBe(1);
    expect(getUser({}, 'a')).toBe(undefined);
    expect(getUser(Object.defineProperty({}, 'a', { get: () => 1 }), 'a')).toBe(FAULT);
    for (const [, make] of hostile({ a: 1 }).slice(6)) {
      expect(getUser(make(), 'a')).toBe(FAULT);
      expect(userKeys(make())).toBe(FAULT);
      expect(userArray(make())).toBe(FAULT);
    }
  });
});

async function boundLoop(): Promise<{ k: Kernel; t: Task; lfd: number }> {
  const k = await Kernel.boot({ seed: 1 });
  const t = k.init;
  const bfd = k.open(t, '/tmp/backing', O_RDWR | O_CREAT);
  expect(k.ftruncate(t, bfd, 1 << 20)).toBe(0);
  const lfd = k.open(t, '/dev/loop0', O_RDWR);
  expect(k.ioctl(t, lfd, LOOP_CONFIGURE, { fd: bfd })).toBe(0);
  return { k, t, lfd };
}

describe('struct-filling ioctls given a buffer they cannot fill return -EFAULT and change nothing', () => {
  test('LOOP_GET_STATUS64 with a frozen object returns -EFAULT (was a TypeError)', async () => {
    const { k, t, lfd } = await boundLoop();
    const info = Object.freeze({ lo_number: 99 });
    expect(k.ioctl(t, lfd, LOOP_GET_STATUS64, info)).toBe(-EFAULT);
    expect(info).toEqual({ lo_number: 99 });
    k.shutdown();
  });

  test('LOOP_GET_STATUS64 with a sealed, non-extensible, read-only, getter-only, setter-inheriting or throwing object returns -EFAULT and leaves it as it was', async () => {
    const { k, t, lfd } = await boundLoop();
    for (const [what, make] of hostile({ lo_number: 99 })) {
      const o = make();
      const before = look(o);
      expect(k.ioctl(t, lfd, LOOP_GET_STATUS64, o), what).toBe(-EFAULT);
      expect(look(o), what).toBe(before);
    }
    const ok: Record<string, unknown> = {};
    expect(k.ioctl(t, lfd, LOOP_GET_STATUS64, ok)).toBe(0);
    expect(ok.lo_number).toBe(0);
    k.shutdown();
  });

  test('LOOP_SET_STATUS64 and LOOP_CONFIGURE with a getter or a throwing Proxy return -EFAULT (was the getter\'s or the Proxy\'s exception)', async () => {
    const { k, t, lfd } = await boundLoop();
    const before = JSON.stringify(loopInfo(k, 0));
    for (const [what, make] of hostile({ lo_flags: 4 }).slice(4)) {
      if (what === 'an inherited setter') continue; // reads as {}: a valid all-zero loop_info64
      expect(k.ioctl(t, lfd, LOOP_SET_STATUS64, make()), what).toBe(-EFAULT);
    }
    expect(k.ioctl(t, lfd, LOOP_SET_STATUS64, { lo_init: new Proxy([0, 0], { getOwnPropertyDescriptor() { throw new Error('x'); } }) })).toBe(-EFAULT);
    expect(JSON.stringify(loopInfo(k, 0))).toBe(before);
    const l1 = k.open(t, '/dev/loop1', O_RDWR);
    for (const [what, make] of hostile({ fd: 3 }).slice(4)) {
      if (what === 'an inherited setter') continue;
      expect(k.ioctl(t, l1, LOOP_CONFIGURE, make()), what).toBe(-EFAULT);
    }
    expect(loopInfo(k, 1).state).toBe('Lo_unbound');
    k.shutdown();
  });

  test('vhost _IOR ioctls (GET_FEATURES, GET_VRING_BASE, GET_VRING_WORKER) with a throwing Proxy return -EFAULT (was the Proxy\'s exception)', async () => {
    const k = await Kernel.boot({ seed: 1, cmdline: 'vhost.fork_from_owner_default=1' });
    const q = k.spawn({ comm: 'qemu', uid: 107 });
    const fd = k.open(q, '/dev/vhost-scsi', O_RDWR); // scsi: the one with the worker ioctls
    expect(k.ioctl(q, fd, VHOST_SET_OWNER)).toBe(0);
    const before = snapshot(k, q, fd);
    for (const [what, make] of hostile({ value: 0 })) expect(k.ioctl(q, fd, VHOST_GET_FEATURES, make()), what).toBe(-EFAULT);
    for (const [what, make] of hostile({ index: 0, num: 0 })) {
      const r = k.ioctl(q, fd, VHOST_GET_VRING_BASE, make());
      // a struct whose index cannot be read faults at get_user; one whose index reads faults at copy_to_user
      expect(r, what).toBe(-EFAULT);
    }
    for (const [what, make] of hostile({ index: 0, worker_id: 0 })) expect(k.ioctl(q, fd, VHOST_GET_VRING_WORKER, make()), what).toBe(-EFAULT);
    for (const [what, make] of hostile({ index: 0, num: 256 }).slice(4)) {
      if (what === 'an inherited setter') continue; // reads as {}: no index (-EFAULT too, but by shape)
      expect(k.ioctl(q, fd, VHOST_SET_VRING_NUM, make()), what).toBe(-EFAULT);
    }
    expect(snapshot(k, q, fd)).toBe(before);
    const region = { guest_phys_addr: 0, memory_size: 4096, userspace_addr: 0 };
    expect(k.ioctl(q, fd, VHOST_SET_MEM_TABLE, { nregions: 1, padding: 0, regions: [new Proxy(region, { getOwnPropertyDescriptor() { throw new Error('x'); } })] })).toBe(-EFAULT);
    expect(k.ioctl(q, fd, VHOST_SET_MEM_TABLE, { nregions: 1, padding: 0, regions: Proxy.revocable([region], {}).proxy })).toBe(0); // a live Proxy of a plain array reads
    k.shutdown();
  });

  test('VHOST_NEW_WORKER into a frozen struct returns -EFAULT and, as in the kernel, keeps the worker it created', async () => {
    const k = await Kernel.boot({ seed: 1, cmdline: 'vhost.fork_from_owner_default=1' });
    const q = k.spawn({ comm: 'qemu', uid: 107 });
    const fd = k.open(q, '/dev/vhost-scsi', O_RDWR);
    expect(k.ioctl(q, fd, VHOST_SET_OWNER)).toBe(0);
    const st = Object.freeze({ worker_id: 42 });
    expect(k.ioctl(q, fd, VHOST_NEW_WORKER, st)).toBe(-EFAULT);
    expect(st.worker_id).toBe(42);
    k.shutdown();
  });

  test('KVM_CREATE_DEVICE with a frozen struct returns -EFAULT (was a TypeError); the fd stays installed as the kernel leaves it', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const q = k.spawn({ comm: 'qemu', uid: 107 });
    const kvm = k.open(q, '/dev/kvm', O_RDWR);
    const vm = k.ioctl(q, kvm, KVM_CREATE_VM, 0);
    expect(vm).toBeGreaterThanOrEqual(0);
    const cd = Object.freeze({ type: KVM_DEV_TYPE_VFIO, fd: 0, flags: 0 });
    expect(k.ioctl(q, vm, KVM_CREATE_DEVICE, cd)).toBe(-EFAULT);
    expect(cd.fd).toBe(0);
    expect(kvmVms(k)[0]!.devices).toBe(1);
    // reading: a getter or a throwing Proxy is a bad pointer, not an exception
    for (const [what, make] of hostile({ type: KVM_DEV_TYPE_VFIO, fd: 0, flags: 0 }).slice(4)) {
      if (what === 'an inherited setter') continue;
      expect(k.ioctl(q, vm, KVM_CREATE_DEVICE, make()), what).toBe(-EFAULT);
    }
    for (const [what, make] of hostile({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 4096, userspace_addr: 0 }).slice(4)) {
      if (what === 'an inherited setter') continue;
      expect(k.ioctl(q, vm, KVM_SET_USER_MEMORY_REGION, make()), what).toBe(-EFAULT);
    }
    expect(kvmVms(k)[0]!.memslots).toBe(0);
    k.shutdown();
  });

  test('io_submit with a null iocb, a throwing Proxy or a non-numeric field returns -EFAULT (was a TypeError or a KwqError)', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ comm: 'fio' });
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const ctx = ioSetup(k, t, 4) as AioContext;
    const good = { aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 4096, aio_offset: 0 };
    expect(ioSubmit(k, t, ctx, [null as never])).toBe(-EFAULT);
    expect(ioSubmit(k, t, ctx, [new Proxy(good, { get() { throw new Error('x'); }, getOwnPropertyDescriptor() { throw new Error('x'); } })])).toBe(-EFAULT);
    expect(ioSubmit(k, t, ctx, [{ ...good, aio_fildes: 'three' as never }])).toBe(-EFAULT);
    expect(ioSubmit(k, t, ctx, 'not a list' as never)).toBe(-EFAULT);
    expect(ioSubmit(k, t, ctx, [good, null as never])).toBe(1); // the first was submitted: its count
    // a pointer that cannot be read (get_user of iocbpp[i] faults): the ones before it
    // were submitted, as the kernel reads each pointer just before submitting it
    // (io_submit returns `i ? i : -EFAULT`), and the first pointer faulting is -EFAULT
    const ptrs = new Proxy([good, good], { getOwnPropertyDescriptor(a, key) { if (key === '1') throw new Error('x'); return Reflect.getOwnPropertyDescriptor(a, key); } });
    const before = ctx.nrEvents;
    expect(ioSubmit(k, t, ctx, ptrs)).toBe(1);
    expect(ctx.nrEvents).toBe(before + 1);
    const first = new Proxy([good], { getOwnPropertyDescriptor(a, key) { if (key === '0') throw new Error('x'); return Reflect.getOwnPropertyDescriptor(a, key); } });
    expect(ioSubmit(k, t, ctx, first)).toBe(-EFAULT);
    expect(ctx.nrEvents).toBe(before + 1);
    k.shutdown();
  });
});
