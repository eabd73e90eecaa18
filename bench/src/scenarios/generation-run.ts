/** What every generating scenario reports: the ceiling, the naive worker and docfleet's workers. */
export interface GenerationRun {
  docs: number;
  /** Documents finished within the run (all of them, unless the run was capped). */
  completed: number;
  tokensIn: number;
  tokensOut: number;
  wallMs: number;
  /** Per finished document: from the moment it was started to its end. */
  latencyMs: number[];
  /** Per finished document: from the start of the run (everything submitted at once) to its end. */
  e2eMs: number[];
  /** Per finished document: when it was started, from the start of the run. */
  startMs: number[];
  /** Jobs that can run at once (sequences × workers). */
  slots: number;
  settings: Record<string, unknown>;
}
