import { InsufficientMemoryError, type LlamaEmbeddingContext, type LlamaModel, type Token } from 'node-llama-cpp';

export interface EmbeddingPoolOptions {
  /** Embedding contexts to evaluate on at once (at least one is always created). */
  contexts: number;
  /** Tokens per context; also its batch size, since an encoder must see a whole input in one batch. */
  contextSize: number;
  /** Threads per context. */
  threads: number;
}

interface Pending {
  tokens: Token[];
  signal?: AbortSignal;
  resolve: (vector: Float32Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Keeps an embedding model busy across chunks and across the concurrent jobs of a worker.
 *
 * node-llama-cpp 3.22 cannot put several inputs into one evaluation: a LlamaEmbeddingContext owns one
 * sequence and evaluates one input at a time (its calls queue on a lock), and its native `getEmbedding`
 * reads sequence 0 only, so sequences of one context cannot be batched for embeddings either. What the
 * library does allow is several embedding contexts, each with its own llama.cpp context and threads,
 * evaluating at the same time. The pool owns `contexts` of them and ONE queue of inputs from every job on
 * the worker; a context takes the next input the moment it finishes one, so no context waits for a job's
 * own code (chunking, bookkeeping) in between. With one context it still removes that idle time.
 *
 * How many contexts pay off is a matter of cores: the host creates `CPU budget / threads per context`
 * (at most the worker's concurrency), so they never oversubscribe the CPU.
 */
export class EmbeddingPool {
  private readonly idle: LlamaEmbeddingContext[];
  private readonly queue: Pending[] = [];
  private disposed = false;

  private constructor(
    private readonly model: LlamaModel,
    private readonly contexts: LlamaEmbeddingContext[],
    readonly contextSize: number,
  ) {
    this.idle = [...contexts];
  }

  /**
   * Creates up to `opts.contexts` contexts; when memory runs out after the first, keeps those that fit.
   * `onShort` hears how many fitted.
   */
  static async create(
    model: LlamaModel,
    opts: EmbeddingPoolOptions,
    onShort?: (created: number, err: Error) => void,
  ): Promise<EmbeddingPool> {
    const contexts: LlamaEmbeddingContext[] = [];
    const wanted = Math.max(1, Math.floor(opts.contexts));
    for (let i = 0; i < wanted; i++) {
      try {
        contexts.push(
          await model.createEmbeddingContext({
            contextSize: opts.contextSize,
            batchSize: opts.contextSize,
            threads: opts.threads,
          }),
        );
      } catch (err) {
        if (i === 0 || !(err instanceof InsufficientMemoryError)) {
          await Promise.all(contexts.map((c) => c.dispose()));
          throw err;
        }
        onShort?.(i, err);
        break;
      }
    }
    return new EmbeddingPool(model, contexts, opts.contextSize);
  }

  /** Contexts evaluating in parallel. */
  get size(): number {
    return this.contexts.length;
  }

  /** Most tokens one input may have, BOS/EOS included (the library refuses an input as long as the context). */
  get maxInputTokens(): number {
    return this.contextSize - 1;
  }

  /** Tokens of `text` without the BOS/EOS an input gets. */
  tokenize(text: string): Token[] {
    return this.model.tokenize(text);
  }

  /** Tokens the text or tokens take as an input, BOS/EOS included. */
  inputLength(input: string | Token[]): number {
    return this.contexts[0]!.calculateInputLength(input);
  }

  /**
   * The L2-normalised embedding of one input, evaluated by the first free context. Inputs run in the order
   * they are asked for, whichever job asks; an input whose signal aborts before it starts is not evaluated.
   */
  embed(tokens: Token[], signal?: AbortSignal): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      if (this.disposed) throw new Error('EmbeddingPool is disposed');
      signal?.throwIfAborted();
      this.queue.push({ tokens, signal, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const item = this.queue.shift()!;
      if (item.signal?.aborted) {
        item.reject(item.signal.reason);
        continue;
      }
      const context = this.idle.pop()!;
      context
        .getEmbeddingFor(item.tokens)
        .then(
          (embedding) => item.resolve(normalised(embedding.vector)),
          (err: unknown) => item.reject(err),
        )
        .finally(() => {
          this.idle.push(context);
          this.pump();
        });
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const item of this.queue.splice(0)) item.reject(new Error('EmbeddingPool is disposed'));
    await Promise.all(this.contexts.map((c) => c.dispose()));
  }
}

export function normalised(vector: readonly number[]): Float32Array {
  const out = Float32Array.from(vector);
  let sum = 0;
  for (const v of out) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return out;
}
