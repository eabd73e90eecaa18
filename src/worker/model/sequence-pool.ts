import {
  InsufficientMemoryError,
  type LlamaContext,
  type LlamaContextOptions,
  type LlamaContextSequence,
  type LlamaModel,
} from 'node-llama-cpp';

export interface SequencePoolOptions {
  /** Sequences in all: jobs at once. */
  sequences: number;
  /** Contexts evaluating side by side; the sequences are split evenly over them (at most one context per sequence). */
  contexts: number;
  /** Tokens per sequence, or a range the first context fits to free memory (the others take its size). */
  contextSize: number | { min: number; max: number };
  /** Threads per context. */
  threads: number;
  flashAttention?: boolean;
}

/**
 * The generation slots of a worker: `sequences` context sequences spread over one or more llama.cpp contexts.
 *
 * Within one context llama.cpp batches the tokens of all its sequences into one evaluation, on that context's
 * threads. When the tuner finds that fewer threads than the CPU budget evaluate fastest (small models: on
 * 2 cores, 1 thread is ~10x faster than 2), one context would leave cores idle; several contexts, each with
 * its own threads, evaluate at the same time and use them. Jobs take a sequence of the least busy context.
 */
export class SequencePool {
  /** Free sequences of each context, as promises: a released sequence is free once its history is cleared. */
  private readonly free: Map<LlamaContext, Promise<LlamaContextSequence>[]>;

  private constructor(private readonly contexts: LlamaContext[]) {
    this.free = new Map(contexts.map((c) => [c, [] as Promise<LlamaContextSequence>[]]));
    for (const c of contexts)
      for (let i = 0; i < c.totalSequences; i++) this.free.get(c)!.push(Promise.resolve(c.getSequence()));
  }

  /**
   * Creates the contexts. If memory runs out for a context after the first, falls back to one context holding
   * every sequence (what fits for one fits for many only if they are no larger), and `onFallback` hears why.
   */
  static async create(
    model: LlamaModel,
    opts: SequencePoolOptions,
    onFallback?: (err: Error) => void,
  ): Promise<SequencePool> {
    const count = Math.max(1, Math.min(opts.sequences, Math.floor(opts.contexts)));
    const shares = Array.from(
      { length: count },
      (_, i) => Math.floor(opts.sequences / count) + (i < opts.sequences % count ? 1 : 0),
    );
    const make = (sequences: number, contextSize: LlamaContextOptions['contextSize']) =>
      model.createContext({ sequences, contextSize, threads: opts.threads, flashAttention: opts.flashAttention });
    const contexts: LlamaContext[] = [await make(shares[0]!, opts.contextSize)];
    try {
      for (const share of shares.slice(1)) contexts.push(await make(share, contexts[0]!.contextSize));
    } catch (err) {
      await Promise.all(contexts.map((c) => c.dispose()));
      if (!(err instanceof InsufficientMemoryError)) throw err;
      onFallback?.(err);
      return new SequencePool([await make(opts.sequences, opts.contextSize)]);
    }
    return new SequencePool(contexts);
  }

  /** Contexts evaluating side by side. */
  get size(): number {
    return this.contexts.length;
  }

  /** Tokens per sequence (the same in every context). */
  get contextSize(): number {
    return this.contexts[0]!.contextSize;
  }

  get flashAttention(): LlamaContext['flashAttention'] {
    return this.contexts[0]!.flashAttention;
  }

  /** A free sequence of the context with the most free sequences; the caller keeps count of what is free. */
  async acquire(): Promise<LlamaContextSequence> {
    let best: Promise<LlamaContextSequence>[] | undefined;
    for (const list of this.free.values()) if (list.length > 0 && (!best || list.length > best.length)) best = list;
    const sequence = best?.pop();
    if (!sequence) throw new Error('SequencePool.acquire: no free sequence');
    return sequence;
  }

  /**
   * Hands a sequence back; it is cleared before the next job gets it, so that job cannot see this one's text.
   * Clearing waits for the context's evaluation in progress, so the caller does not wait for it: the job's
   * result is stored meanwhile, and the next job is fetched and read.
   */
  release(sequence: LlamaContextSequence): void {
    const cleared = sequence.clearHistory().then(
      () => sequence,
      // A sequence that cannot be cleared is replaced by a fresh one of the same context.
      async () => {
        await sequence.dispose();
        return sequence.context.getSequence();
      },
    );
    // Rejects only when the pool has been disposed meanwhile; acquire() then reports it.
    cleared.catch(() => undefined);
    this.free.get(sequence.context)!.push(cleared);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.contexts.map((c) => c.dispose()));
  }
}
