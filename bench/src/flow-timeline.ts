import { round } from './common.js';

/**
 * Where a map-reduce flow's slots stand idle, from the workers' own job log lines: each job's span (start to
 * completion or to waiting for its parts) on its worker, then the flow cut into phases — planning before the
 * first part starts, each level's parts up to the end of its last, the gaps between levels, and the final
 * combining run — with the slot time each phase had and used.
 */

export interface JobSpan {
  worker: number;
  job: string;
  /** The part's level; undefined for the document's own job (the flow's parent). */
  level?: number;
  start: number;
  end: number;
}

export interface FlowPhase {
  phase: string;
  /** Jobs that started in the phase. */
  jobs: number;
  wallSeconds: number;
  /** Slot time of the phase that no job used (wall × slots − busy). */
  idleSlotSeconds: number;
  /** Busy share of the phase's slot time. */
  slotUse: number;
}

/** Collects the spans of one run from the job log lines of its workers. */
export class FlowTimeline {
  readonly spans: JobSpan[] = [];
  private readonly open = new Map<string, JobSpan>();

  /** The handler for worker `worker`'s job log lines. */
  listener(worker: number): (line: Record<string, unknown>) => void {
    return (line) => {
      const key = `${worker}/${String(line.job)}`;
      const time = Number(line.time);
      if (line.msg === 'job started') {
        // pino's own level comes first in the line and the part's level last, which JSON.parse keeps.
        const level = line.part === undefined ? undefined : Number(line.level);
        this.open.set(key, { worker, job: String(line.job), level, start: time, end: time });
        return;
      }
      const span = this.open.get(key);
      if (!span) return;
      this.open.delete(key);
      this.spans.push({ ...span, end: time });
    };
  }

  /** The flow's phases between `t0` (submitted) and `t1` (the summary stored), for `slots` slots in all. */
  phases(t0: number, t1: number, slots: number): FlowPhase[] {
    const levels = [...new Set(this.spans.flatMap((s) => (s.level === undefined ? [] : [s.level])))].sort(
      (a, b) => a - b,
    );
    const cuts: { phase: string; from: number; to: number }[] = [];
    let at = t0;
    let previous = 'planning';
    // Consecutive phases, each up to the end of a level's last part: in a tree, a level's parts start while
    // the level below still runs, and its phase is what remains of it once that level is done.
    for (const level of levels) {
      const parts = this.spans.filter((s) => s.level === level);
      const first = Math.max(at, Math.min(...parts.map((s) => s.start)));
      const last = Math.max(first, ...parts.map((s) => s.end));
      cuts.push({ phase: previous, from: at, to: first });
      cuts.push({ phase: `level ${level} parts`, from: first, to: last });
      at = last;
      previous = `level ${level} → ${level + 1}`;
    }
    cuts.push({ phase: 'final combine', from: at, to: t1 });
    return cuts.map(({ phase, from, to }) => {
      const wall = Math.max(0, to - from);
      const busy = this.spans.reduce((n, s) => n + Math.max(0, Math.min(s.end, to) - Math.max(s.start, from)), 0);
      return {
        phase,
        jobs: this.spans.filter((s) => s.start >= from && s.start < to).length,
        wallSeconds: round(wall / 1000, 2),
        idleSlotSeconds: round((wall * slots - busy) / 1000, 2),
        slotUse: wall > 0 ? round(busy / (wall * slots), 3) : 1,
      };
    });
  }
}
