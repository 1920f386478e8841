/**
 * Behaviour the oracle (oracle/scripts/cgroup-*.json, memcg-limits.json, seed-tmpfs-oom.json)
 * showed kwq had wrong, pinned against the kernel source it was fixed from.
 */
import { describe, expect, test } from 'vitest';
import { CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EOPNOTSUPP, Kernel } from 'kwq';
import { memcgDirtyLimits, memparseU64, pageCounterMemparse, pageCounterShow, PAGE_COUNTER_MAX } from '../../src/kernel/memcontrol.js';

const CG = '/sys/fs/cgroup';
const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

describe('cgroup.type (cgroup_type_show, cgroup_enable_threaded)', () => {
  test('a domain child of a thread root is "domain invalid"; a new child of a threaded cgroup too', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/a`);
    k.mkdir(r, `${CG}/a/t`);
    k.mkdir(r, `${CG}/a/d`);
    expect(k.writeFile(r, `${CG}/a/t/cgroup.type`, 'threaded')).toBe(8);
    expect(k.readFile(r, `${CG}/a/cgroup.type`)).toBe('domain threaded\n');
    expect(k.readFile(r, `${CG}/a/d/cgroup.type`)).toBe('domain invalid\n');
    k.mkdir(r, `${CG}/a/t/u`);
    expect(k.readFile(r, `${CG}/a/t/u/cgroup.type`)).toBe('domain invalid\n');
    const p = k.spawn({ comm: 'p' });
    expect(k.writeFile(p, `${CG}/a/t/u/cgroup.procs`, '0')).toBe(-EOPNOTSUPP);
  });

  test('a parent with a domain controller enabled cannot become a thread root; a populated cgroup cannot turn threaded', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/c`);
    k.mkdir(r, `${CG}/c/d`);
    expect(k.writeFile(r, `${CG}/c/cgroup.subtree_control`, '+memory')).toBe(7);
    expect(k.writeFile(r, `${CG}/c/d/cgroup.type`, 'threaded')).toBe(-EOPNOTSUPP);
    k.mkdir(r, `${CG}/e`);
    k.mkdir(r, `${CG}/e/f`);
    k.spawn({ comm: 'p', cgroup: '/e/f' });
    expect(k.writeFile(r, `${CG}/e/f/cgroup.type`, 'threaded')).toBe(-EOPNOTSUPP);
  });

  test('cgroup.threads moves a thread into a threaded child; its cgroup.procs cannot be read', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/s`);
    const p = k.spawn({ comm: 'p', cgroup: '/s' });
    const th = k.clone(p, THREAD) as typeof p;
    k.mkdir(r, `${CG}/s/t`);
    k.writeFile(r, `${CG}/s/t/cgroup.type`, 'threaded');
    expect(k.writeFile(th, `${CG}/s/t/cgroup.threads`, '0')).toBe(1);
    expect(th.cgroup).toBe('/s/t');
    expect(k.readFile(r, `${CG}/s/t/cgroup.procs`)).toBe(-EOPNOTSUPP);
    expect(k.readFile(r, `${CG}/s/cgroup.procs`)).toBe(`${p.pid}\n`);
  });
});

describe('page_counter_memparse and the tunables it sets', () => {
  test('u64 arithmetic: exact, clamped to PAGE_COUNTER_MAX, wrapping as simple_strtoull and the shifts do', () => {
    expect(memparseU64('64M')).toEqual([64n << 20n, '']);
    expect(memparseU64('0x10k')).toEqual([16n << 10n, '']);
    expect(memparseU64('010')).toEqual([8n, '']);
    expect(memparseU64('0x')).toEqual([0n, 'x']);
    expect(memparseU64('18446744073709551616')).toEqual([0n, '']);
    expect(pageCounterMemparse('9007199254740993')).toBe(2199023255552);
    expect(pageCounterMemparse('9223372036854771712')).toBe(Infinity);
    expect(pageCounterMemparse(String(BigInt(PAGE_COUNTER_MAX - 1) * 4096n))).toBe(PAGE_COUNTER_MAX - 1);
    expect(pageCounterShow(PAGE_COUNTER_MAX - 1)).toBe('9223372036854767616');
    expect(pageCounterMemparse('1.5G')).toBeNull();
    expect(pageCounterMemparse('MAX')).toBeNull();
  });
});

describe('anon faults charge page by page', () => {
  test('a toucher OOM-killed at memory.max leaves memory.peak at the limit', async () => {
    const k = await Kernel.boot({ swap: 0 });
    const r = k.init;
    k.mkdir(r, `${CG}/h`);
    k.writeFile(r, `${CG}/h/memory.max`, '16M');
    const t = k.spawn({ comm: 'hog', cgroup: '/h' });
    expect(k.faultAnon(t, 64 << 20)).toBe(-4);
    expect(t.alive).toBe(false);
    expect(k.readFile(r, `${CG}/h/memory.peak`)).toBe(`${16 << 20}\n`);
    expect(k.readFile(r, `${CG}/h/memory.current`)).toBe('0\n');
    expect(k.readFile(r, `${CG}/h/memory.events`)).toMatch(/^oom_kill 1$/m);
  });
});

describe('the memcg domain of balance_dirty_pages', () => {
  test('thresholds are vm.dirty_ratio / dirty_background_ratio of file pages + headroom', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/w`);
    k.writeFile(r, `${CG}/w/memory.max`, '64M');
    const memcg = k.cgroupByPath('/w')!.memcg;
    const l = memcgDirtyLimits(k, memcg);
    expect(l.dirty).toBe(0);
    expect(l.thresh).toBe(Math.floor((16384 * 20) / 100));
    expect(l.bgThresh).toBe(Math.floor((16384 * 10) / 100));
  });
});
