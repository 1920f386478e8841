/**
 * mm_users vs mm_count (mmget vs mmgrab): CLONE_VM threads and get_task_mm hold the
 * address space; a kthread that borrows the mm (kthread_use_mm, vhost's kthread mode)
 * and KVM's kvm->mm only pin the struct. The last mm_users reference tears the address
 * space down and uncharges its anon pages, whoever still holds mm_count.
 */
import { describe, expect, test } from 'vitest';
import { CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, Kernel, type Task } from 'kwq';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

describe('mm reference counts', () => {
  test('threads share mm_users; fork makes a new mm; the last user tears it down and uncharges', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/vm' });
    const mm = p.mm!;
    expect([mm.mmUsers, mm.mmCount]).toEqual([1, 1]);
    const th = k.clone(p, THREAD) as Task;
    expect(th.mm).toBe(mm);
    expect(mm.mmUsers).toBe(2);
    const c = k.fork(p) as Task;
    expect(c.mm).not.toBe(mm);
    expect(c.mm!.nrAnon).toBe(0); // copy-on-write: nothing charged until written
    expect(k.faultAnon(p, 1 << 20)).toBe(0);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/memory.current')).toBe(`${1 << 20}\n`);
    k.exit(th);
    expect([mm.mmUsers, mm.exited]).toEqual([1, false]);
    k.exit(p);
    expect([mm.mmUsers, mm.mmCount, mm.exited]).toEqual([0, 0, true]);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/memory.current')).toBe('0\n');
  });

  test('a kthread that borrowed the mm pins the struct (mm_count) but not the address space', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/vm' });
    const mm = p.mm!;
    const kt = k.kthreadCreate('vhost-kt', { run: () => false }) as Task;
    k.kthreadUseMm(kt, mm);
    expect([mm.mmUsers, mm.mmCount]).toEqual([1, 2]);
    expect(k.getTaskMm(kt)).toBeNull(); // get_task_mm is NULL for a kthread
    expect(k.faultAnon(p, 8192)).toBe(0);
    k.exit(p);
    // the address space went with its last user, anon uncharged; the struct lives on
    expect([mm.mmUsers, mm.mmCount, mm.exited, mm.nrAnon]).toEqual([0, 1, true, 0]);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/memory.current')).toBe('0\n');
    k.kthreadUnuseMm(kt);
    expect(mm.mmCount).toBe(0);
  });

  test('get_task_mm takes mm_users and keeps the address space past its owner', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/vm' });
    const mm = k.getTaskMm(p)!;
    expect(mm.mmUsers).toBe(2);
    expect(k.faultAnon(p, 4096)).toBe(0);
    k.exit(p);
    expect([mm.exited, mm.nrAnon]).toEqual([false, 1]);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/memory.current')).toBe('4096\n');
    k.mmput(mm);
    expect([mm.exited, mm.nrAnon]).toEqual([true, 0]);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/memory.current')).toBe('0\n');
  });
});
