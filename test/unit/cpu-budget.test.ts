import path from 'node:path';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  detectCpuBudget,
  parseCfsQuota,
  parseCpuList,
  parseCpuMax,
  parseCpusAllowed,
  parseMountInfo,
  parseProcCgroup,
} from '../../src/shared/cpu-budget.js';
import { ROOT } from '../helpers/paths.js';

const fixture = (name: string) => path.join(ROOT, 'test/fixtures/cgroup', name);

describe('cpu budget parsing', () => {
  it('reads cgroup v2 cpu.max', () => {
    expect(parseCpuMax('150000 100000\n')).toBe(1.5);
    expect(parseCpuMax('max 100000\n')).toBeNull();
    expect(parseCpuMax('50000 100000')).toBe(0.5);
  });

  it('reads cgroup v1 cfs quota and period', () => {
    expect(parseCfsQuota('200000\n', '100000\n')).toBe(2);
    expect(parseCfsQuota('-1\n', '100000\n')).toBeNull();
  });

  it('counts CPU lists', () => {
    expect(parseCpuList('0-3,8,10-11')).toBe(7);
    expect(parseCpuList('5')).toBe(1);
    expect(parseCpusAllowed('Cpus_allowed:\t3\nCpus_allowed_list:\t0-1\n')).toBe(2);
    expect(parseCpusAllowed('Name:\tnode\n')).toBeNull();
  });

  it('splits /proc/self/cgroup into v1 controllers and the v2 path', () => {
    const cg = parseProcCgroup('4:cpu,cpuacct:/docker/abc\n3:cpuset:/docker/abc\n0::/system.slice/x.service\n');
    expect(cg.v2).toBe('/system.slice/x.service');
    expect(cg.v1.get('cpu')).toBe('/docker/abc');
    expect(cg.v1.get('cpuacct')).toBe('/docker/abc');
  });

  it('keeps only cgroup mounts from mountinfo, with their root and options', () => {
    const mounts = parseMountInfo(
      '22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n' +
        '709 706 0:30 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,relatime - cgroup cgroup rw,cpu,cpuacct\n' +
        '30 24 0:26 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw,nsdelegate\n',
    );
    expect(mounts).toEqual([
      {
        root: '/docker/abc',
        mountPoint: '/sys/fs/cgroup/cpu,cpuacct',
        fsType: 'cgroup',
        superOptions: ['rw', 'cpu', 'cpuacct'],
      },
      { root: '/', mountPoint: '/sys/fs/cgroup x', fsType: 'cgroup2', superOptions: ['rw', 'nsdelegate'] },
    ]);
  });
});

describe('detectCpuBudget on sample file systems', () => {
  it('cgroup v2: the service quota (1.5 CPUs) beats affinity and the host count', () => {
    const b = detectCpuBudget(fixture('v2-quota'), 16);
    expect(b).toEqual({ cpus: 1.5, source: 'cgroup2', details: { cgroup2: 1.5, cgroup1: null, affinity: 8, os: 16 } });
  });

  it('cgroup v2: a tighter limit on a parent cgroup applies', () => {
    const b = detectCpuBudget(fixture('v2-nested'), 4);
    expect(b.cpus).toBe(1);
    expect(b.source).toBe('cgroup2');
  });

  it('cgroup v2 without a quota falls back to the affinity mask', () => {
    const b = detectCpuBudget(fixture('v2-unlimited-affinity'), 8);
    expect(b).toMatchObject({ cpus: 3, source: 'affinity', details: { cgroup2: null, affinity: 3 } });
  });

  it('cgroup v1: a docker --cpus=2 quota on a host path mounted as its own root', () => {
    const b = detectCpuBudget(fixture('v1-docker'), 16);
    expect(b).toMatchObject({ cpus: 2, source: 'cgroup1', details: { cgroup1: 2, cgroup2: null, affinity: 16 } });
  });

  it('cgroup v1 with quota -1 imposes nothing; the smaller of affinity and os wins', () => {
    expect(detectCpuBudget(fixture('v1-unlimited'), 2)).toMatchObject({ cpus: 2, source: 'affinity' });
    expect(detectCpuBudget(fixture('v1-unlimited'), 1)).toMatchObject({ cpus: 1, source: 'os' });
  });

  it('an empty file system leaves only the os count', () => {
    expect(detectCpuBudget(fixture('does-not-exist'), 6)).toEqual({
      cpus: 6,
      source: 'os',
      details: { cgroup2: null, cgroup1: null, affinity: null, os: 6 },
    });
  });

  it('this machine: a positive budget no larger than what Node reports', () => {
    const b = detectCpuBudget();
    expect(b.cpus).toBeGreaterThan(0);
    expect(b.cpus).toBeLessThanOrEqual(os.availableParallelism());
  });
});
