/** Step scripts: a malformed file names the step, the field and what is allowed. */
import { describe, it, expect } from 'vitest';
import { KwqError } from 'kwq';
import { parseScript } from '../../src/oracle/script.js';
import { compileScript, decodeGuest, pctEncode, pctDecode } from '../../src/oracle/wire.js';
import { compareRecords } from '../../src/oracle/compare.js';
import type { Step } from '../../src/oracle/script.js';
import type { StepRecord } from '../../src/oracle/record.js';

const ok = { name: 't', description: 'a test script', steps: [{ op: 'spawn', as: 'a' }] };

function err(doc: unknown): string {
  try {
    parseScript(doc, 't.json');
  } catch (e) {
    expect(e).toBeInstanceOf(KwqError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('step script validation', () => {
  it('accepts a good script', () => {
    expect(parseScript(ok).steps).toHaveLength(1);
  });
  it('names an unknown op and lists the allowed ones', () => {
    expect(err({ ...ok, steps: [{ op: 'frobnicate' }] })).toMatch(/steps\[0\]\.op: must be one of "spawn", "fork".*\(got "frobnicate"\)/);
  });
  it('names an unknown field of a step', () => {
    expect(err({ ...ok, steps: [{ op: 'spawn', as: 'a', uidd: 1 }] })).toMatch(/steps\[0\].*unknown field 'uidd'/);
  });
  it('names a bad value with what was given', () => {
    expect(err({ ...ok, steps: [{ op: 'spawn', as: 'a', uid: -1 }] })).toMatch(/steps\[0\]\.uid.*-1/);
  });
  it('names an ioctl request it does not know', () => {
    expect(err({ ...ok, steps: [{ op: 'spawn', as: 'a' }, { op: 'ioctl', task: 'a', fd: 3, request: 'VHOST_FROB' }] })).toMatch(/steps\[1\]\.request.*VHOST_SET_OWNER/);
  });
  it('refuses a $name used before it is bound, and a name bound twice', () => {
    expect(err({ ...ok, steps: [{ op: 'close', fd: '$x' }] })).toMatch(/steps\[0\]\.fd: \$x is not bound/);
    expect(err({ ...ok, steps: [{ op: 'spawn', as: 'a' }, { op: 'spawn', as: 'a' }] })).toMatch(/steps\[1\]\.as: 'a' is bound already/);
    expect(err({ ...ok, steps: [{ op: 'exit', task: 'b' }] })).toMatch(/steps\[0\]\.task: no task 'b'/);
  });
});

describe('the wire format', () => {
  it('percent-encodes every byte outside the safe set, and decodes it back', () => {
    const s = 'a b=$c%\n\u00e9';
    expect(pctEncode(s)).toBe('a%20b%3D%24c%25%0A%C3%A9');
    expect(pctDecode(pctEncode(s))).toBe(s);
  });
  it('compiles structs to bytes with $name patches, and decodes filled structs and pids', () => {
    const script = parseScript({
      name: 'w', description: 'wire round trip',
      steps: [
        { op: 'spawn', as: 'q', uid: 107 },
        { op: 'eventfd', task: 'q', as: 'kick' },
        { op: 'open', task: 'q', path: '/dev/vhost-net', flags: ['O_RDWR'], as: 'v' },
        { op: 'ioctl', task: 'q', fd: '$v', request: 'VHOST_SET_VRING_KICK', arg: { index: 1, fd: '$kick' } },
        { op: 'ioctl', task: 'q', fd: '$v', request: 'VHOST_GET_VRING_BASE', arg: { index: 1 } },
        { op: 'readfile', path: '/sys/fs/cgroup/cgroup.procs' },
        { op: 'threads', target: 'q' },
      ],
    });
    const lines = compileScript(script).split('\n');
    expect(lines[4]).toBe('3 ioctl task=q fd=%24v req=0x4008af20 arg=buf:0100000000000000 patch=4:4:%24kick');
    const steps = new Map([
      [0, { fields: { ret: '345' }, thr: [] }],
      [1, { fields: { ret: '3' }, thr: [] }],
      [2, { fields: { ret: '4' }, thr: [] }],
      [3, { fields: { ret: '-1', errno: '14' }, thr: [] }],
      [4, { fields: { ret: '0', buf: '0100000007000000' }, thr: [] }],
      [5, { fields: { ret: '10', text: '345%0A77%0A80%0A' }, thr: [] }],
      [6, { fields: { ret: '2' }, thr: [
        { tid: '345', tgid: '345', ppid: '80', flags: '0x400100', comm: 'qemu', cgroup: '/' },
        { tid: '346', tgid: '345', ppid: '80', flags: '0x4040', comm: 'vhost-345', cgroup: '/' },
      ] }],
    ]);
    const recs = decodeGuest(script, { name: 'w', steps }, { initPid: 80, kthreaddPid: 2 });
    expect(recs[0]).toEqual({ step: 0, op: 'spawn', ret: '$q' });
    expect(recs[3]).toEqual({ step: 3, op: 'ioctl', errno: 'EFAULT' });
    expect(recs[4]).toEqual({ step: 4, op: 'ioctl', ret: 0, struct: { index: 1, num: 7 } });
    expect(recs[5]!.text).toBe('$init\n$q\n?\n');
    expect(recs[6]!.tasks).toEqual([
      { tid: '$q', tgid: 'self', ppid: '$init', comm: 'qemu', flags: [], cgroup: '/' },
      { tid: '?', tgid: '$q', ppid: '$init', comm: 'vhost-$q', flags: ['PF_USER_WORKER'], cgroup: '/' },
    ]);
  });
  it('compiles the io_uring ops and decodes their records (the ring fd, the CQE counts, max_workers written back)', () => {
    const script = parseScript({
      name: 'u', description: 'io_uring round trip',
      steps: [
        { op: 'spawn', as: 'a' },
        { op: 'uring_setup', task: 'a', entries: 8, flags: ['IORING_SETUP_CLAMP'], as: 'ring' },
        { op: 'open', task: 'a', path: '/tmp/f', flags: ['O_RDWR', 'O_CREAT'], as: 'f' },
        { op: 'uring_submit', task: 'a', ring: '$ring', opcode: 'WRITE', fd: '$f', len: 4096, offset: 0, count: 3, flags: ['IOSQE_ASYNC'], wait: true },
        { op: 'uring_submit', task: 'a', ring: '$ring', opcode: 'NOP', count: 1 },
        { op: 'uring_register_max_workers', task: 'a', ring: '$ring', bounded: 1, unbounded: 0 },
      ],
    });
    const lines = compileScript(script).split('\n');
    expect(lines[2]).toBe('1 uring_setup task=a as=ring entries=8 flags=16');
    expect(lines[4]).toBe('3 uring_submit task=a ring=%24ring opc=23 fd=%24f len=4096 off=0 count=3 flags=16 wait=1');
    expect(lines[5]).toBe('4 uring_submit task=a ring=%24ring opc=0 fd=-1 len=0 off=0 count=1 flags=0 wait=0');
    expect(lines[6]).toBe('5 uring_register_max_workers task=a ring=%24ring bounded=1 unbounded=0');
    const steps = new Map([
      [0, { fields: { ret: '345' }, thr: [] }],
      [1, { fields: { ret: '3', buf: '08000000100000003f000000' }, thr: [] }],
      [2, { fields: { ret: '4' }, thr: [] }],
      [3, { fields: { ret: '3', total: '3', cqe: '4096:2,-125:1' }, thr: [] }],
      [4, { fields: { ret: '1' }, thr: [] }],
      [5, { fields: { ret: '0', buf: '0800000040000000' }, thr: [] }],
    ]);
    const recs = decodeGuest(script, { name: 'u', steps }, { initPid: 80, kthreaddPid: 2 });
    expect(recs[1]).toEqual({ step: 1, op: 'uring_setup', ret: 3, struct: { sq_entries: 8, cq_entries: 16, features: 63 } });
    expect(recs[3]).toEqual({ step: 3, op: 'uring_submit', ret: 3, total: 3, text: 'ECANCELED x1\n4096 x2' });
    expect(recs[4]).toEqual({ step: 4, op: 'uring_submit', ret: 1 });
    expect(recs[5]).toEqual({ step: 5, op: 'uring_register_max_workers', ret: 0, struct: { bounded: 8, unbounded: 64 } });
  });
  it('refuses an io_uring flag or opcode it does not know', () => {
    expect(err({ ...ok, steps: [{ op: 'spawn', as: 'a' }, { op: 'uring_setup', task: 'a', entries: 4, flags: ['IORING_SETUP_FROB'], as: 'r' }] })).toMatch(/steps\[1\]\.flags\/0.*IORING_SETUP_CLAMP|steps\[1\].*IORING_SETUP/);
    expect(err({ ...ok, steps: [{ op: 'spawn', as: 'a' }, { op: 'uring_submit', task: 'a', ring: 3, opcode: 'SPLICE', count: 1 }] })).toMatch(/steps\[1\]\.opcode: must be one of "NOP", "READ", "WRITE", "FSYNC"/);
  });
});

describe('comparing a readfile', () => {
  // memcg-limits#128 on 6.12: "max 91" in one boot and "max 107" in another, both in the
  // step's range, made the byte count differ by one and failed the step on ret
  const step = {
    op: 'readfile', path: '/sys/fs/cgroup/ml/memory.events',
    check: { text: 'keyed', fields: { max: { range: [1, 100000], why: 'timing' } } },
  } as unknown as Step;
  const rec = (text: string, ret = text.length): StepRecord => ({ step: 0, op: 'readfile', ret, text });

  it('takes its ret from the text: values of other lengths within their rules agree', () => {
    expect(compareRecords(step, rec('max 107\noom 2\n'), rec('max 91\noom 2\n'))).toEqual([]);
  });

  it('still fails a value outside its rule, and a ret that is not its text\'s length', () => {
    expect(compareRecords(step, rec('max 107\noom 2\n'), rec('max 0\noom 2\n'))).not.toEqual([]);
    expect(compareRecords(step, rec('max 107\noom 2\n'), rec('max 91\noom 2\n', 99))).toEqual(['ret: kwq 99 is not the length of its text (13)']);
  });

  it('keeps a step\'s own ret rule', () => {
    const exactRet = { ...step, check: { ...(step as { check: object }).check, fields: { ret: 'exact', max: { range: [1, 100000], why: 'timing' } } } } as unknown as Step;
    expect(compareRecords(exactRet, rec('max 107\n'), rec('max 91\n'))).toEqual(['ret: linux 8, kwq 7']);
  });
});
