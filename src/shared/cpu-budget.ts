import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * How many CPUs this process may really use. Containers routinely see every core of the host in
 * `os.cpus()` while a cgroup quota lets them use one or two; sizing inference threads from the host
 * count oversubscribes the quota and throttling makes inference dramatically slower.
 */
export type CpuBudgetSource = 'cgroup2' | 'cgroup1' | 'affinity' | 'os';

export interface CpuBudget {
  /** CPUs available; fractional when a cgroup quota is (e.g. 1.5). */
  cpus: number;
  /** Which limit is the smallest. */
  source: CpuBudgetSource;
  /** Every limit found; null means that mechanism imposes none (or is absent). */
  details: Record<CpuBudgetSource, number | null>;
}

/** Smallest of the cgroup v2 and v1 CPU quotas, the CPU affinity mask and Node's own count. */
export function detectCpuBudget(fsRoot = '/', osCpus = os.availableParallelism()): CpuBudget {
  const fs: Fs = {
    read(p) {
      try {
        return readFileSync(path.join(fsRoot, p), 'utf8');
      } catch {
        return null;
      }
    },
    exists: (p) => existsSync(path.join(fsRoot, p)),
  };
  const cgroups = parseProcCgroup(fs.read('/proc/self/cgroup') ?? '');
  const mounts = parseMountInfo(fs.read('/proc/self/mountinfo') ?? '');
  const details: CpuBudget['details'] = {
    cgroup2: cgroup2Limit(cgroups, mounts, fs),
    cgroup1: cgroup1Limit(cgroups, mounts, fs),
    affinity: parseCpusAllowed(fs.read('/proc/self/status') ?? ''),
    os: osCpus,
  };
  // Ties go to the most specific mechanism, which is listed first.
  let best: CpuBudgetSource = 'os';
  for (const source of ['affinity', 'cgroup1', 'cgroup2'] as const) {
    const v = details[source];
    if (v !== null && v <= details[best]!) best = source;
  }
  return { cpus: details[best]!, source: best, details };
}

export interface ProcCgroup {
  /** Path of the process in the unified (v2) hierarchy, if it is in one. */
  v2?: string;
  /** Path per v1 controller (`cpu`, `cpuacct`, …). */
  v1: Map<string, string>;
}

/** /proc/self/cgroup: `hierarchy-id:controllers:path` per line; v2 is `0::path`. */
export function parseProcCgroup(text: string): ProcCgroup {
  const out: ProcCgroup = { v1: new Map() };
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers, p] = m as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') out.v2 = p;
    else for (const c of controllers.split(',')) out.v1.set(c, p);
  }
  return out;
}

export interface Mount {
  /** Path inside the cgroup filesystem that is mounted (`/` unless the mount is a sub-tree). */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** /proc/self/mountinfo, cgroup mounts only. Fields after ` - ` are fstype, source, super options. */
export function parseMountInfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fields = pre.split(' ');
    const [fsType, , superOpts] = post.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      root: unescapeMountPath(fields[3] ?? '/'),
      mountPoint: unescapeMountPath(fields[4] ?? ''),
      fsType,
      superOptions: (superOpts ?? '').split(','),
    });
  }
  return mounts;
}

/** cgroup v2 `cpu.max`: `quota period` in µs, quota `max` when unlimited. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (!quota || quota === 'max') return null;
  return ratio(Number(quota), Number(period ?? 100_000));
}

/** cgroup v1 `cpu.cfs_quota_us` (-1 when unlimited) over `cpu.cfs_period_us`. */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  return ratio(Number(quotaText.trim()), Number(periodText.trim()));
}

/** Count of CPUs in a list such as `0-3,8,10-11`. */
export function parseCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

/** `Cpus_allowed_list` of /proc/self/status: the affinity mask (taskset, cpuset, --cpuset-cpus). */
export function parseCpusAllowed(status: string): number | null {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  return m?.[1] ? parseCpuList(m[1]) : null;
}

function ratio(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return quota / period;
}

interface Fs {
  read(p: string): string | null;
  exists(p: string): boolean;
}

function cgroup2Limit(cg: ProcCgroup, mounts: Mount[], fs: Fs): number | null {
  if (cg.v2 === undefined) return null;
  const mount = mounts.find((m) => m.fsType === 'cgroup2') ?? defaultMount('/sys/fs/cgroup');
  return smallestUpTree(mount, cg.v2, fs, (dir) => {
    const t = fs.read(`${dir}/cpu.max`);
    return t === null ? null : parseCpuMax(t);
  });
}

function cgroup1Limit(cg: ProcCgroup, mounts: Mount[], fs: Fs): number | null {
  const p = cg.v1.get('cpu');
  if (p === undefined) return null;
  const mount =
    mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('cpu')) ?? defaultMount('/sys/fs/cgroup/cpu');
  return smallestUpTree(mount, p, fs, (dir) => {
    const q = fs.read(`${dir}/cpu.cfs_quota_us`);
    const per = fs.read(`${dir}/cpu.cfs_period_us`);
    return q === null || per === null ? null : parseCfsQuota(q, per);
  });
}

function defaultMount(mountPoint: string): Mount {
  return { root: '/', mountPoint, fsType: '', superOptions: [] };
}

/**
 * A quota anywhere above the process's own cgroup caps it too (e.g. a pod limit over a container),
 * so walk from the process's directory up to the mount point and keep the smallest.
 */
function smallestUpTree(mount: Mount, cgPath: string, fs: Fs, limitAt: (dir: string) => number | null) {
  const rel =
    mount.root !== '/' && (cgPath + '/').startsWith(mount.root + '/') ? cgPath.slice(mount.root.length) : cgPath;
  let dir = path.posix.join(mount.mountPoint, rel).replace(/(.)\/+$/, '$1');
  // Without a cgroup namespace the process sees its host path while the container has only its own
  // sub-tree mounted at the mount point: the limit is then at the mount point itself.
  if (!fs.exists(dir)) dir = mount.mountPoint;
  let best: number | null = null;
  for (;;) {
    const v = limitAt(dir);
    if (v !== null && (best === null || v < best)) best = v;
    if (dir === mount.mountPoint || dir === '/' || !dir.startsWith(mount.mountPoint)) return best;
    dir = path.posix.dirname(dir);
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
