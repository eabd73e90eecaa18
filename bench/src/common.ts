import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared by the benchmark driver and its child processes. */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli.js');
export const CHILD = path.join(ROOT, 'bench/dist/child.js');
export const RESULTS_DIR = path.join(ROOT, 'bench/results');
export const DEFAULT_MODEL = path.resolve(ROOT, '../shared/models/stories260K.gguf');

/**
 * The one workload every generating scenario runs: the same documents, the same prompt, the same
 * token budget, the same tokens per sequence.
 */
export const WORKLOAD = {
  documents: 48,
  maxTokens: 128,
  /** Tokens per sequence; the tiny model's attention cost grows with the square of the context. */
  contextSize: 512,
  /** docfleet's default --concurrency. */
  sequences: 4,
} as const;

/**
 * What docfleet's summarize task sends a base model (no chat template), see
 * src/worker/tasks/summarize.ts; the ceiling and naive runs send exactly the same text.
 */
export function summarizePrompt(text: string): string {
  return `Document:\n${text}\n\nSummary of the document above:\n`;
}

const NAMES = ['Lily', 'Tom', 'Sara', 'Ben', 'Mia', 'Max', 'Anna', 'Sam', 'Lucy', 'Tim', 'Zoe', 'Jack'];
const PLACES = ['park', 'garden', 'forest', 'beach', 'farm', 'library', 'school', 'river', 'hill', 'town'];
const THINGS = ['ball', 'kite', 'book', 'box', 'hat', 'cake', 'boat', 'flower', 'toy car', 'red cup'];
const FEELINGS = ['happy', 'sad', 'scared', 'proud', 'tired', 'excited', 'curious', 'kind'];

/**
 * A short, distinct document (about 300 characters): a TinyStories-style paragraph, because the
 * test model knows no other language. Distinct text means a distinct job id.
 */
export function documentText(i: number, sentences = 5): string {
  const pick = <T>(list: readonly T[], k: number) =>
    list[(i * 7 + k * 13 + Math.floor(i / list.length)) % list.length]!;
  const a = pick(NAMES, 1);
  const b = pick(NAMES, 2) === a ? pick(NAMES, 3) : pick(NAMES, 2);
  const all = [
    `Document ${i + 1}. ${a} went to the ${pick(PLACES, 1)} with ${b}.`,
    `They found a ${pick(THINGS, 1)} under a big tree.`,
    `${a} was ${pick(FEELINGS, 1)} and wanted to keep it, but ${b} said it was not theirs.`,
    `So they asked a man near the ${pick(PLACES, 2)} if the ${pick(THINGS, 1)} was his.`,
    `The man smiled and gave them a ${pick(THINGS, 2)} to say thank you.`,
    `At home, ${a} told Mom about the day and felt ${pick(FEELINGS, 2)}.`,
  ];
  return all.slice(0, sentences).join(' ') + '\n';
}

/** Writes `count` documents as .txt files into `dir`, names sorted in index order. */
export async function writeDocuments(dir: string, count: number, from = 0, sentences = 5): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = from; i < from + count; i++) {
    const file = path.join(dir, `doc-${String(i).padStart(5, '0')}.txt`);
    await writeFile(file, documentText(i, sentences));
    files.push(file);
  }
  return files;
}

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || b === 0) return null;
  return round(a / b, 3);
}

/** Prefix of the one stdout line that carries a child's answer (libraries may print too). */
export const RESULT_MARK = '@@bench-result ';

/** Kills `proc` if this process exits first (a signal, an error), so a stopped bench leaves no process behind. */
export function killOnExit(proc: ChildProcess): void {
  const kill = () => proc.kill('SIGKILL');
  process.once('exit', kill);
  proc.once('exit', () => process.off('exit', kill));
}

/**
 * Exits with 130 on SIGINT or SIGTERM after `cleanup` (SIGTERM too: a bench stopped by a supervisor must not leave
 * its Redis, workers or llama-server behind). Returns the function that removes the handlers again.
 */
export function exitOnStop(cleanup: () => Promise<void> = async () => {}): () => void {
  const stop = () => void cleanup().finally(() => process.exit(130));
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const signal of signals) process.once(signal, stop);
  return () => {
    for (const signal of signals) process.off(signal, stop);
  };
}

/** Runs `bench/dist/child.js <scenario>` with its input as JSON; it answers with one marked JSON line on stdout. */
export async function runChild<T>(scenario: string, input: unknown, env: NodeJS.ProcessEnv = {}): Promise<T> {
  const proc = spawn(process.execPath, [CHILD, scenario, JSON.stringify(input)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  const answer = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
  if (code !== 0 || !answer) {
    throw new Error(`bench child "${scenario}" failed (exit ${code}):\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  }
  return JSON.parse(answer.slice(RESULT_MARK.length)) as T;
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Resident set size of a process, bytes (Linux /proc). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return kb * 1024;
}

/** A recorded run setting as text, '—' where the run did not record it (settings come from logs and JSON). */
export function settingText(value: unknown): string {
  return typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean' ? String(value) : '—';
}

/** Plain-text table: a header row and rows of cells, columns padded. */
export function table(header: string[], rows: (string | number | null)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '—' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** The same table as Markdown, for the README. */
export function markdownTable(header: string[], rows: (string | number | null)[][]): string {
  const fmt = (r: (string | number | null)[]) => `| ${r.map((c) => (c === null ? '—' : String(c))).join(' | ')} |`;
  return [fmt(header), `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map(fmt)].join(
    '\n',
  );
}

interface ProcSample {
  ppid: number;
  ticks: number;
  comm: string;
}

async function readProcs(): Promise<Map<number, ProcSample>> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out = new Map<number, ProcSample>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const rest = stat.slice(close + 2).split(' ');
      out.set(Number(name), {
        comm: stat.slice(stat.indexOf('(') + 1, close),
        ppid: Number(rest[1]),
        ticks: Number(rest[11]) + Number(rest[12]),
      });
    } catch {
      // The process exited meanwhile.
    }
  }
  return out;
}

/** CPU seconds (user and system) that process `pid` has used so far. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

export interface Disturbance {
  wallSeconds: number;
  /** CPU seconds used by processes outside this benchmark's own process tree. */
  foreignCpuSeconds: number;
  /** foreignCpuSeconds / wallSeconds: how many cores others took on average. */
  foreignCores: number;
  /** The biggest of them. */
  top: { comm: string; cpuSeconds: number }[];
  /** Cores the hypervisor gave to other guests meanwhile (steal time; invisible to the count above). */
  stealCores: number;
}

async function stealTicks(): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/);
  return Number(cpu[8] ?? 0);
}

/**
 * Watches how much CPU processes outside the benchmark take while it measures (on a shared 2-core
 * machine a test suite next door halves the figures). Linux /proc; sampled once a second.
 */
export class ForeignCpuMeter {
  private last = new Map<number, ProcSample>();
  private foreign = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private started = 0;
  private stealAtStart = 0;
  private sampling = Promise.resolve();
  private static readonly HZ = 100;

  async start(): Promise<void> {
    this.started = performance.now();
    this.stealAtStart = await stealTicks();
    this.foreign.clear();
    this.last = await readProcs();
    this.timer = setInterval(() => {
      this.sampling = this.sample();
    }, 1_000);
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    const now = await readProcs();
    const ours = new Set<number>([process.pid]);
    // Descendants of this process: workers, children, redis-server.
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, p] of now) {
        if (!ours.has(pid) && ours.has(p.ppid)) {
          ours.add(pid);
          grew = true;
        }
      }
    }
    for (const [pid, p] of now) {
      if (ours.has(pid) || p.ppid === 2 || pid === 2) continue;
      const before = this.last.get(pid);
      // A process new since the last sample counts with all its CPU time (it began within the second).
      const delta = before && before.comm === p.comm ? p.ticks - before.ticks : p.ticks;
      if (delta > 0) this.foreign.set(p.comm, (this.foreign.get(p.comm) ?? 0) + delta / ForeignCpuMeter.HZ);
    }
    this.last = now;
  }

  async stop(): Promise<Disturbance> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const wallSeconds = (performance.now() - this.started) / 1000;
    const foreignCpuSeconds = [...this.foreign.values()].reduce((a, b) => a + b, 0);
    const top = [...this.foreign.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([comm, s]) => ({ comm, cpuSeconds: round(s, 2) }));
    const stealCores = round(((await stealTicks()) - this.stealAtStart) / ForeignCpuMeter.HZ / wallSeconds, 2);
    return {
      wallSeconds: round(wallSeconds),
      foreignCpuSeconds: round(foreignCpuSeconds, 2),
      foreignCores: round(foreignCpuSeconds / wallSeconds, 2),
      top,
      stealCores,
    };
  }
}
