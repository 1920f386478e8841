/**
 * The cpu controller's v2 files (kernel/sched/core.c), as the oracle's cpu-max script
 * showed Linux 6.1 and 6.12 parse and print them.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { EINVAL, ERANGE, Kernel } from 'kwq';
import { CpuCgroup, cpuMaxShow, cpuMaxWrite, cpuWeightNiceShow, cpuWeightShow, cpuWeightWrite } from '../../src/kernel/cgroup/cpu.js';
import { kstrtoll, kstrtoull, scanU64 } from '../../src/kernel/cgroup/kstrto.js';

const CG = '/sys/fs/cgroup';

describe('cpu.max (cpu_period_quota_parse: sscanf "%20s %llu", tg_set_cfs_bandwidth)', () => {
  test.each([
    ['50000', 5, '50000 100000\n'],
    ['max 1000', 8, 'max 1000\n'],
    ['max 999', -EINVAL, 'max 100000\n'],
    ['max 1000001', -EINVAL, 'max 100000\n'],
    ['999 100000', -EINVAL, 'max 100000\n'],
    ['  20000   100000  \n', 19, '20000 100000\n'],
    ['30000k 100000', 13, '30000 100000\n'],
    ['0x1000 100000', -EINVAL, 'max 100000\n'],
    ['+5000', -EINVAL, 'max 100000\n'],
    ['max -5', 6, 'max 100000\n'],
    ['MAX', -EINVAL, 'max 100000\n'],
    ['\n', -EINVAL, 'max 100000\n'],
    ['17592186044415 1000000', 22, '17592186044415 1000000\n'],
    ['17592186044416 1000000', -EINVAL, 'max 100000\n'],
    ['18446744073709551616 100000', -EINVAL, 'max 100000\n'],
    ['18446744073709552616 100000', 27, '1000 100000\n'],
    ['123456789012345678901234', -EINVAL, 'max 100000\n'],
  ])('%j -> %i, then %j', async (text, ret, after) => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/c`);
    expect(k.readFile(k.init, `${CG}/c/cpu.max`)).toBe('max 100000\n');
    expect(k.writeFile(k.init, `${CG}/c/cpu.max`, text)).toBe(ret);
    expect(k.readFile(k.init, `${CG}/c/cpu.max`)).toBe(after);
  });

  test('property: an accepted write prints back what was written (quota 1000..2^44-1 µs or max, period 1000..1000000)', () => {
    fc.assert(fc.property(
      fc.oneof(fc.constant('max'), fc.bigInt(1000n, (1n << 44n) - 1n).map(String)), fc.integer({ min: 1000, max: 1_000_000 }),
      (q, p) => {
        const tg = new CpuCgroup();
        expect(cpuMaxWrite(tg, `${q} ${p}\n`)).toBe(0);
        expect(cpuMaxShow(tg)).toBe(`${q} ${p}\n`);
      },
    ));
  });

  test('a burst survives a cpu.max write; burst > quota is refused', async () => {
    const k = await Kernel.boot({ release: '6.1', cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/c`);
    expect(k.writeFile(k.init, `${CG}/c/cpu.max.burst`, '1000')).toBe(4);
    expect(k.writeFile(k.init, `${CG}/c/cpu.max`, '50000 100000')).toBe(12);
    expect(k.readFile(k.init, `${CG}/c/cpu.max.burst`)).toBe('1000\n');
    expect(k.writeFile(k.init, `${CG}/c/cpu.max.burst`, '60000')).toBe(-EINVAL);
    expect(k.writeFile(k.init, `${CG}/c/cpu.max.burst`, '0x10')).toBe(4);
    expect(k.readFile(k.init, `${CG}/c/cpu.max.burst`)).toBe('16\n');
  });
});

describe('cpu.weight, cpu.weight.nice, cpu.idle', () => {
  test('weight <-> shares rounding and the closest nice', () => {
    const tg = new CpuCgroup();
    const cases: [string, string, string][] = [['50', '50', '3'], ['1', '1', '19'], ['3', '3', '16'], ['10000', '10000', '-20'], ['200', '200', '-3']];
    for (const [w, read, nice] of cases) {
      expect(cpuWeightWrite(tg, w)).toBe(0);
      expect(cpuWeightShow(tg, true)).toBe(`${read}\n`);
      expect(cpuWeightNiceShow(tg)).toBe(`${nice}\n`);
    }
    expect(cpuWeightWrite(tg, '0')).toBe(-ERANGE);
    expect(cpuWeightWrite(tg, ' 50')).toBe(-EINVAL);
    expect(cpuWeightWrite(tg, '18446744073709551616')).toBe(-ERANGE);
  });

  test.each([['6.1', '0\n'], ['6.12', '1\n']] as const)('%s: an idle group reads cpu.weight %j, refuses weight writes, and leaves idle at 100', async (release, w) => {
    const k = await Kernel.boot({ release, cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/c`);
    expect(k.writeFile(k.init, `${CG}/c/cpu.weight`, '300')).toBe(3);
    expect(k.writeFile(k.init, `${CG}/c/cpu.idle`, '1')).toBe(1);
    expect(k.readFile(k.init, `${CG}/c/cpu.weight`)).toBe(w);
    expect(k.readFile(k.init, `${CG}/c/cpu.weight.nice`)).toBe('19\n');
    expect(k.writeFile(k.init, `${CG}/c/cpu.weight`, '200')).toBe(-EINVAL);
    expect(k.writeFile(k.init, `${CG}/c/cpu.idle`, '2')).toBe(-EINVAL);
    expect(k.writeFile(k.init, `${CG}/c/cpu.idle`, '0')).toBe(1);
    expect(k.readFile(k.init, `${CG}/c/cpu.weight`)).toBe('100\n');
  });

  test('the files of a fresh child per release; none of them on the root', async () => {
    for (const [release, local] of [['6.1', false], ['6.12', true]] as const) {
      const k = await Kernel.boot({ release, cgroup: 'v2' });
      k.mkdir(k.init, `${CG}/c`);
      const names = k.readdir(k.init, `${CG}/c`) as string[];
      for (const f of ['cpu.max', 'cpu.max.burst', 'cpu.weight', 'cpu.weight.nice', 'cpu.idle', 'cgroup.freeze', 'cgroup.kill']) expect(names).toContain(f);
      expect(names.includes('cpu.stat.local')).toBe(local);
      const stat = k.readFile(k.init, `${CG}/c/cpu.stat`) as string;
      expect(stat.includes('nice_usec 0\n')).toBe(release === '6.12');
      const root = k.readdir(k.init, CG) as string[];
      for (const f of ['cpu.max', 'cpu.weight', 'cpu.idle', 'cpu.max.burst']) expect(root).not.toContain(f);
    }
  });
});

describe('kstrtox and vsscanf %llu', () => {
  test('kstrtoull base 0, one trailing newline, overflow is -ERANGE before junk', () => {
    expect(kstrtoull('0x64')).toBe(100n);
    expect(kstrtoull('0144')).toBe(100n);
    expect(kstrtoull('+7\n')).toBe(7n);
    expect(kstrtoull('08')).toBe(-EINVAL);
    expect(kstrtoull('0x')).toBe(-EINVAL);
    expect(kstrtoull('99999999999999999999x')).toBe(-ERANGE);
    expect(kstrtoll('-+5')).toBe(-5n);
    expect(kstrtoll('-9223372036854775808')).toBe(-(1n << 63n));
    expect(kstrtoll('9223372036854775808')).toBe(-ERANGE);
  });

  test('%llu wraps modulo 2^64 and takes no sign', () => {
    expect(scanU64(' 18446744073709551617 x')).toEqual([1n, ' x']);
    expect(scanU64('-1')).toBeNull();
    expect(scanU64('+1')).toBeNull();
  });
});
