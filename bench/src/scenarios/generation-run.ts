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
  /** Per finished document, where the run measures it: from its start to its first generated token. */
  firstTokenMs?: number[];
  /** Jobs that can run at once (sequences × workers). */
  slots: number;
  settings: Record<string, unknown>;
}

/** What one document's generation tells `timedRun`. */
export interface Generated {
  tokensIn: number;
  tokensOut: number;
  /** From the document's start to its first generated token, if the run can tell. */
  firstTokenMs?: number;
}

/**
 * Runs `count` documents on `slots` slots, each slot taking the next document as soon as it is free, and
 * times every document and the whole.
 */
export async function timedRun(
  count: number,
  slots: number,
  run: (slot: number, doc: number) => Promise<Generated>,
): Promise<Omit<GenerationRun, 'settings'>> {
  const latencyMs: number[] = [];
  const e2eMs: number[] = [];
  const startMs: number[] = [];
  const firstTokenMs: number[] = [];
  let tokensIn = 0;
  let tokensOut = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: slots }, async (_, slot) => {
      for (let i = next++; i < count; i = next++) {
        const started = performance.now();
        const generated = await run(slot, i);
        const end = performance.now();
        tokensIn += generated.tokensIn;
        tokensOut += generated.tokensOut;
        if (generated.firstTokenMs !== undefined) firstTokenMs.push(generated.firstTokenMs);
        latencyMs.push(end - started);
        e2eMs.push(end - t0);
        startMs.push(started - t0);
      }
    }),
  );
  return {
    docs: count,
    completed: count,
    tokensIn,
    tokensOut,
    wallMs: performance.now() - t0,
    latencyMs,
    e2eMs,
    startMs,
    firstTokenMs,
    slots,
  };
}
