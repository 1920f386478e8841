/**
 * cgroup v2's cpuset, hugetlb, rdma and misc controllers and blk-iocost's root files
 * (src/kernel/cgroup/{cpuset,hugetlb,rdma,misc,iocost}.ts). oracle/scripts/cgroup-controllers.json
 * holds what Linux 6.1 and 6.12 answer on the 2-CPU guest; these pin what the script cannot
 * reach: other CPU counts, the list parser's corners, css lifetime, remote partitions, v1.
 */
import { describe, expect, test } from 'vitest';
import { EINVAL, ENODEV, ENOENT, ENOSPC, EOPNOTSUPP, EOVERFLOW, ERANGE, Kernel, O_RDWR } from 'kwq';
import { bitmapParselist, cpulistString } from '../../src/kernel/cgroup/cpuset.js';

const CG = '/sys/fs/cgroup';

async function withCpuset(release: '6.1' | '6.12' | '6.17', ncpus = 4): Promise<Kernel> {
  const k = await Kernel.boot({ release, ncpus });
  expect(k.writeFile(k.init, `${CG}/cgroup.subtree_control`, '+cpuset +hugetlb +rdma +misc')).toBe(28);
  return k;
}

describe('cpulists (bitmap_parselist, %*pbl)', () => {
  test('ranges, groups, N and all; the errnos in the order the parser meets them', () => {
    expect(bitmapParselist('0-7:2/4', 8)).toBe(0b00110011n);
    expect(bitmapParselist('1,3-4', 8)).toBe(0b11010n);
    expect(bitmapParselist(' ,2 ', 8)).toBe(0b100n);
    expect(bitmapParselist('N', 8)).toBe(0b10000000n);
    expect(bitmapParselist('all:1/4', 8)).toBe(0b00010001n);
    expect(bitmapParselist('', 8)).toBe(0n);
    expect(bitmapParselist('3-1', 8)).toBe(-EINVAL);
    expect(bitmapParselist('0-3:3/2', 8)).toBe(-EINVAL);
    expect(bitmapParselist('0-3:1/0', 8)).toBe(-EINVAL);
    expect(bitmapParselist('0x1', 8)).toBe(-EINVAL);
    expect(bitmapParselist('8', 8)).toBe(-ERANGE);
    expect(bitmapParselist('4294967296', 8)).toBe(-EOVERFLOW);
    expect(bitmapParselist('1-', 8)).toBe(-EINVAL);
    expect(cpulistString(0n)).toBe('');
    expect(cpulistString(0b1011101n)).toBe('0,2-4,6');
  });
});

describe('cpuset', () => {
  test('the root: effective CPUs are the machine\'s, cpuset.cpus/mems are not there; a new child inherits', async () => {
    const k = await withCpuset('6.12');
    const r = k.init;
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-3\n');
    expect(k.readFile(r, `${CG}/cpuset.mems.effective`)).toBe('0\n');
    expect(k.readFile(r, `${CG}/cpuset.cpus`)).toBe(-ENOENT);
    expect(k.writeFile(r, `${CG}/cpuset.cpus.effective`, '0')).toBe(-EINVAL);
    k.mkdir(r, `${CG}/a`);
    expect(k.readFile(r, `${CG}/a/cpuset.cpus.effective`)).toBe('0-3\n');
    expect(k.writeFile(r, `${CG}/a/cpuset.cpus`, '4')).toBe(-ERANGE);
    expect(k.writeFile(r, `${CG}/a/cpuset.cpus`, '1-2\n')).toBe(4);
    expect(k.readFile(r, `${CG}/a/cpuset.cpus.effective`)).toBe('1-2\n');
    k.shutdown();
  });

  test.each(['6.1', '6.12'] as const)('%s: a partition takes its CPUs from the parent; rmdir gives them back', async (rel) => {
    const k = await withCpuset(rel);
    const r = k.init;
    k.mkdir(r, `${CG}/p`);
    k.writeFile(r, `${CG}/p/cpuset.cpus`, '2-3');
    expect(k.writeFile(r, `${CG}/p/cpuset.cpus.partition`, 'isolated')).toBe(8);
    expect(k.readFile(r, `${CG}/p/cpuset.cpus.partition`)).toBe('isolated\n');
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-1\n');
    if (rel === '6.12') expect(k.readFile(r, `${CG}/cpuset.cpus.isolated`)).toBe('2-3\n');
    else expect(k.readFile(r, `${CG}/cpuset.cpus.isolated`)).toBe(-ENOENT);
    // a sibling may not take a partition's CPUs as its own exclusive ones (6.7+), but cpuset.cpus may overlap
    k.mkdir(r, `${CG}/s`);
    if (rel === '6.12') expect(k.writeFile(r, `${CG}/s/cpuset.cpus.exclusive`, '3')).toBe(-EINVAL);
    expect(k.readFile(r, `${CG}/s/cpuset.cpus.effective`)).toBe('0-1\n');
    expect(k.rmdir(r, `${CG}/p`)).toBe(0);
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-3\n');
    expect(k.readFile(r, `${CG}/s/cpuset.cpus.effective`)).toBe('0-3\n');
    if (rel === '6.12') expect(k.readFile(r, `${CG}/cpuset.cpus.isolated`)).toBe('\n');
    k.shutdown();
  });

  test('6.12: a remote partition takes exclusive CPUs from the top cpuset through a member parent', async () => {
    const k = await withCpuset('6.12');
    const r = k.init;
    k.mkdir(r, `${CG}/m`);
    k.writeFile(r, `${CG}/m/cgroup.subtree_control`, '+cpuset');
    k.mkdir(r, `${CG}/m/x`);
    expect(k.writeFile(r, `${CG}/m/cpuset.cpus.exclusive`, '3')).toBe(1);
    expect(k.writeFile(r, `${CG}/m/x/cpuset.cpus.exclusive`, '3')).toBe(1);
    expect(k.writeFile(r, `${CG}/m/x/cpuset.cpus.partition`, 'root')).toBe(4);
    expect(k.readFile(r, `${CG}/m/x/cpuset.cpus.partition`)).toBe('root\n');
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-2\n');
    expect(k.readFile(r, `${CG}/m/x/cpuset.cpus.effective`)).toBe('3\n');
    expect(k.readFile(r, `${CG}/m/cpuset.cpus.partition`)).toBe('member\n');
    expect(k.writeFile(r, `${CG}/m/x/cpuset.cpus.partition`, 'member')).toBe(6);
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-3\n');
    k.shutdown();
  });

  test('a task cannot move into a cpuset left with no CPU; a populated one cannot lose its CPUs', async () => {
    const k = await withCpuset('6.1', 2);
    const r = k.init;
    k.mkdir(r, `${CG}/p`);
    k.writeFile(r, `${CG}/p/cpuset.cpus`, '1');
    k.writeFile(r, `${CG}/p/cpuset.cpus.partition`, 'root');
    k.writeFile(r, `${CG}/p/cgroup.subtree_control`, '+cpuset');
    k.mkdir(r, `${CG}/p/q`);
    k.writeFile(r, `${CG}/p/q/cpuset.cpus`, '1');
    k.writeFile(r, `${CG}/p/q/cpuset.cpus.partition`, 'root');
    expect(k.readFile(r, `${CG}/p/cpuset.cpus.effective`)).toBe('\n');
    const t = k.spawn({ comm: 't' });
    expect(k.writeFile(t, `${CG}/p/cgroup.procs`, '0')).toBe(-ENOSPC);
    expect(t.cgroup).toBe('/');
    expect(k.writeFile(t, `${CG}/p/q/cgroup.procs`, '0')).toBe(1);
    expect(k.writeFile(r, `${CG}/p/q/cpuset.cpus`, '\n')).toBe(-ENOSPC);
    k.shutdown();
  });

  test('disabling cpuset drops the children\'s css: enabling it again starts afresh', async () => {
    const k = await withCpuset('6.17');
    const r = k.init;
    k.mkdir(r, `${CG}/a`);
    k.writeFile(r, `${CG}/a/cpuset.cpus`, '2');
    k.writeFile(r, `${CG}/a/cpuset.cpus.partition`, 'root');
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-1,3\n');
    expect(k.writeFile(r, `${CG}/cgroup.subtree_control`, '-cpuset')).toBe(7);
    expect(k.readFile(r, `${CG}/cpuset.cpus.effective`)).toBe('0-3\n');
    expect(k.readFile(r, `${CG}/a/cpuset.cpus`)).toBe(-ENOENT);
    k.writeFile(r, `${CG}/cgroup.subtree_control`, '+cpuset');
    expect(k.readFile(r, `${CG}/a/cpuset.cpus`)).toBe('\n');
    expect(k.readFile(r, `${CG}/a/cpuset.cpus.partition`)).toBe('member\n');
    k.shutdown();
  });

  test('cgroup.stat counts the new controllers\' csses; cpuset is threaded, the other three are not', async () => {
    const k = await withCpuset('6.12');
    const r = k.init;
    k.mkdir(r, `${CG}/a`);
    const stat = k.readFile(r, `${CG}/a/cgroup.stat`) as string;
    expect(stat).toContain('nr_subsys_cpuset 1\n');
    expect(stat).toContain('nr_subsys_misc 1\n');
    k.mkdir(r, `${CG}/a/t`);
    expect(k.writeFile(r, `${CG}/a/cgroup.subtree_control`, '+cpuset')).toBe(7);
    expect(k.writeFile(r, `${CG}/a/t/cgroup.type`, 'threaded')).toBe(8);
    expect(k.writeFile(r, `${CG}/a/cgroup.subtree_control`, '+rdma')).toBe(-EOPNOTSUPP);
    expect(k.readFile(r, `${CG}/a/t/cgroup.controllers`)).toBe('cpuset\n');
    k.shutdown();
  });
});

describe('hugetlb, misc, rdma', () => {
  test('hugetlb limits round down to whole huge pages and read "max" at the top; re-enabling resets them', async () => {
    const k = await withCpuset('6.1');
    const r = k.init;
    k.mkdir(r, `${CG}/h`);
    expect(k.readFile(r, `${CG}/hugetlb.2MB.max`)).toBe(-ENOENT);
    expect(k.writeFile(r, `${CG}/h/hugetlb.2MB.max`, '5M')).toBe(2);
    expect(k.readFile(r, `${CG}/h/hugetlb.2MB.max`)).toBe('4194304\n');
    expect(k.writeFile(r, `${CG}/h/hugetlb.1GB.rsvd.max`, '3G')).toBe(2);
    expect(k.readFile(r, `${CG}/h/hugetlb.1GB.rsvd.max`)).toBe('3221225472\n');
    expect(k.writeFile(r, `${CG}/h/hugetlb.1GB.max`, '1G junk')).toBe(-EINVAL);
    k.writeFile(r, `${CG}/cgroup.subtree_control`, '-hugetlb');
    k.writeFile(r, `${CG}/cgroup.subtree_control`, '+hugetlb');
    expect(k.readFile(r, `${CG}/h/hugetlb.2MB.max`)).toBe('max\n');
    expect(k.readFile(r, `${CG}/h/hugetlb.1GB.numa_stat`)).toBe('total=0 N0=0\n');
    k.shutdown();
  });

  test('misc: no capacity, so nothing listed and every limit refused; rdma: no device', async () => {
    const k = await withCpuset('6.17');
    const r = k.init;
    k.mkdir(r, `${CG}/m`);
    expect(k.readFile(r, `${CG}/misc.capacity`)).toBe('');
    expect(k.readFile(r, `${CG}/misc.peak`)).toBe('');
    expect(k.readFile(r, `${CG}/m/misc.events.local`)).toBe('');
    expect(k.writeFile(r, `${CG}/m/misc.max`, 'sev 0x10')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/m/misc.max`, 'sev_es 99999999999999999999')).toBe(-ERANGE);
    expect(k.writeFile(r, `${CG}/m/rdma.max`, 'mlx5_0 hca_object=0x10 hca_handle=ma')).toBe(-ENODEV);
    expect(k.writeFile(r, `${CG}/m/rdma.max`, 'mlx5_0 hca_object')).toBe(-EINVAL);
    expect(k.readFile(r, `${CG}/m/rdma.current`)).toBe('');
    k.shutdown();
  });
});

describe('io.cost.qos / io.cost.model', () => {
  test('read empty; a write is parsed up to the device: EINVAL, ENODEV, and EOPNOTSUPP for a disk kwq has', async () => {
    const k = await Kernel.boot({ release: '6.12' });
    const r = k.init;
    expect(k.open(r, '/dev/loop0', O_RDWR)).toBeGreaterThanOrEqual(0);
    expect(k.blockDevices.has('7:0')).toBe(true);
    expect(k.readFile(r, `${CG}/io.cost.qos`)).toBe('');
    expect(k.writeFile(r, `${CG}/io.cost.qos`, '7:0 enable=1\n')).toBe(-EOPNOTSUPP);
    expect(k.writeFile(r, `${CG}/io.cost.model`, '7:0')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/io.cost.model`, '7:99 ctrl=user')).toBe(-ENODEV);
    k.mkdir(r, `${CG}/a`);
    expect(k.readFile(r, `${CG}/a/io.cost.qos`)).toBe(-ENOENT);
    k.shutdown();
  });
});

describe('cgroup v1', () => {
  test('kwq\'s v1 hierarchies are unchanged: no cpuset mount, the memory one lists its files', async () => {
    const k = await Kernel.boot({ cgroup: 'v1' });
    const r = k.init;
    expect(k.readFile(r, `${CG}/memory/memory.use_hierarchy`)).toBe('1\n');
    expect(k.readdir(r, `${CG}/cpuset`)).toBe(-ENOENT);
    expect(k.mkdir(r, `${CG}/memory/a`)).toBe(0);
    expect(k.rmdir(r, `${CG}/memory/a`)).toBe(0);
    k.shutdown();
  });
});
