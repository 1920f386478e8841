/**
 * Random sequences of spawn/fork/thread/exit/kill/migrate/charge/uncharge/rmdir keep
 * every counter consistent with a recount from the objects themselves.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, Kernel, O_CREAT, O_RDWR, SIGKILL, type Task } from 'kwq';
import type { Cgroup } from '../../src/kernel/cgroup/cgroup.js';
import { NR_ANON, NR_FILE, NR_KERNEL, NR_SHMEM } from '../../src/kernel/memcontrol.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
const PATHS = ['/a', '/a/x', '/b'];

type Op =
  | { op: 'spawn'; cg: number }
  | { op: 'fork' | 'thread' | 'exit' | 'kill'; who: number }
  | { op: 'migrate'; who: number; cg: number }
  | { op: 'write' | 'truncate' | 'anon'; who: number; pages: number }
  | { op: 'rmdir' | 'mkdir' | 'limit'; cg: number; pages: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('spawn' as const), cg: fc.nat(2) }),
  fc.record({ op: fc.constantFrom('fork' as const, 'thread' as const, 'exit' as const, 'kill' as const), who: fc.nat(50) }),
  fc.record({ op: fc.constant('migrate' as const), who: fc.nat(50), cg: fc.nat(2) }),
  fc.record({ op: fc.constantFrom('write' as const, 'truncate' as const, 'anon' as const), who: fc.nat(50), pages: fc.integer({ min: 0, max: 64 }) }),
  fc.record({ op: fc.constantFrom('rmdir' as const, 'mkdir' as const, 'limit' as const), cg: fc.nat(2), pages: fc.integer({ min: 8, max: 400 }) }),
);

function check(k: Kernel): void {
  const allCgroups: Cgroup[] = [...k.cgroupRoots[0]!.root.subtree()];
  // pages per memcg, recounted from every page owner (tmpfs files, anon mms)
  const pages = new Map<Cgroup, number>();
  const add = (cg: Cgroup, n: number): void => void pages.set(cg, (pages.get(cg) ?? 0) + n);
  for (const cg of allCgroups) {
    for (const mapping of cg.memcg.mappings.keys()) {
      mapping.forEachPage((_i, id, flags) => {
        if (k.objcgs[id]!.memcg === cg.memcg && !(flags & 4)) add(cg, 1);
      });
    }
    for (const mm of cg.memcg.mms.keys()) for (const [oc, n] of mm.anon) if (oc.memcg === cg.memcg) add(cg, n);
  }
  for (const cg of allCgroups) {
    const m = cg.memcg;
    expect(m.stat[NR_ANON]! + m.stat[NR_FILE]! + m.stat[NR_SHMEM]! + m.stat[NR_KERNEL]!).toBe(pages.get(cg) ?? 0);
    // memory.current (hierarchical) = sum of the subtree's local pages
    let sub = 0;
    for (const c of cg.subtree()) sub += pages.get(c) ?? 0;
    if (cg.parent !== null) expect(m.usage).toBe(sub);
    // pids.current = live tasks in the subtree
    let live = 0;
    for (const c of cg.subtree()) for (const t of c.tasks) if (t.alive) live++;
    expect(cg.pids.counter).toBe(live);
    for (const t of cg.tasks) expect(t.alive).toBe(true);
  }
  // nothing charged to a removed cgroup
  for (const d of k.deadCgroups) {
    expect(d.memcg.usage).toBe(0);
    expect([...d.memcg.stat].every((v) => v === 0)).toBe(true);
  }
  for (const oc of k.objcgs) if (oc !== null) expect(oc.memcg.cgroup.online).toBe(true);
  // RLIMIT_NPROC counts = live tasks per uid
  const perUid = new Map<number, number>();
  for (const t of k.tasks()) perUid.set(t.uid, (perUid.get(t.uid) ?? 0) + 1);
  expect(new Map([...k.ucounts].sort())).toEqual(new Map([...perUid].sort()));
  expect(k.nrThreads).toBe(k.tasks().length);
}

describe('accounting stays consistent (property)', () => {
  test('random spawn/fork/exit/migrate/charge/uncharge/rmdir', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        const k = await Kernel.boot({ swap: '0', tmpfsSize: '64M' });
        const r = k.init;
        k.mkdir(r, '/sys/fs/cgroup/a');
        k.writeFile(r, '/sys/fs/cgroup/a/cgroup.subtree_control', '+memory +pids');
        k.mkdir(r, '/sys/fs/cgroup/a/x');
        k.mkdir(r, '/sys/fs/cgroup/b');
        const procs: Task[] = [];
        const fds = new Map<Task, number>();
        const pick = (i: number): Task | undefined => {
          const live = procs.filter((t) => t.alive);
          return live.length ? live[i % live.length] : undefined;
        };
        let fileNo = 0;
        for (const o of ops) {
          switch (o.op) {
            case 'spawn': {
              const t = k.spawn({ comm: 'p', uid: 1000 + (procs.length % 3) });
              k.writeFile(r, `/sys/fs/cgroup${PATHS[o.cg]}/cgroup.procs`, String(t.pid));
              procs.push(t);
              break;
            }
            case 'fork':
            case 'thread': {
              const t = pick(o.who);
              if (!t) break;
              const c = o.op === 'fork' ? k.fork(t) : k.clone(t, THREAD);
              if (typeof c !== 'number') procs.push(c);
              break;
            }
            case 'exit': {
              const t = pick(o.who);
              if (t) k.exit(t, 0);
              break;
            }
            case 'kill': {
              const t = pick(o.who);
              if (t) k.kill(t, SIGKILL);
              break;
            }
            case 'migrate': {
              const t = pick(o.who);
              if (t) k.writeFile(r, `/sys/fs/cgroup${PATHS[o.cg]}/cgroup.procs`, String(t.pid));
              break;
            }
            case 'write': {
              const t = pick(o.who);
              if (!t) break;
              let fd = fds.get(t.groupLeader);
              if (fd === undefined || t.files?.get(fd) == null) {
                fd = k.open(t, `/tmp/f${fileNo++}`, O_CREAT | O_RDWR);
                if (fd < 0) break;
                fds.set(t.groupLeader, fd);
              }
              k.pwrite(t, fd, o.pages * 4096, 0);
              break;
            }
            case 'truncate': {
              const t = pick(o.who);
              const fd = t && fds.get(t.groupLeader);
              if (t && fd !== undefined && t.files?.get(fd)) k.ftruncate(t, fd, o.pages * 1024);
              break;
            }
            case 'anon': {
              const t = pick(o.who);
              if (t) k.faultAnon(t, o.pages * 4096);
              break;
            }
            case 'rmdir':
              k.rmdir(r, `/sys/fs/cgroup${PATHS[o.cg]}`);
              break;
            case 'mkdir':
              k.mkdir(r, `/sys/fs/cgroup${PATHS[o.cg]}`);
              break;
            case 'limit':
              k.writeFile(r, `/sys/fs/cgroup${PATHS[o.cg]}/memory.max`, String(o.pages * 4096));
              break;
          }
          check(k);
        }
      }),
      { numRuns: 150, seed: 42 },
    );
  }, 60_000);
});
