import type { LlamaContext } from 'node-llama-cpp';
import { perKey } from './per-model.js';

/** One generation loop's place in its context's lockstep. */
export interface LockstepMember {
  /** Resolves once every generating sequence of the context has its token of this step (joins on first call). */
  step(): Promise<void>;
  /** Leaves the lockstep (idempotent); the others no longer wait for this sequence. */
  leave(): void;
}

/**
 * Keeps the generating sequences of one context in step, so that each decode carries a token of every one.
 *
 * node-llama-cpp's batch loop decodes whatever sequences have queued their next token the moment the previous
 * batch is done. A sequence's next token is queued only after its sampled token has passed through the
 * evaluation generator and the caller's loop, so the sequence sampled last in a batch misses the next one:
 * the sequences of a context settle into taking turns, each decoding alone, instead of sharing a decode. Making
 * each sequence wait at every step until all of them have their token has them queue together.
 */
export class Lockstep {
  private members = 0;
  private waiting: (() => void)[] = [];

  member(): LockstepMember {
    let joined = false;
    let left = false;
    return {
      step: () => {
        if (left) return Promise.resolve();
        if (!joined) {
          joined = true;
          this.members++;
        }
        const arrived = new Promise<void>((resolve) => this.waiting.push(resolve));
        this.release();
        return arrived;
      },
      leave: () => {
        if (left) return;
        left = true;
        if (!joined) return;
        this.members--;
        this.release();
      },
    };
  }

  private release(): void {
    if (this.waiting.length === 0 || this.waiting.length < this.members) return;
    const go = this.waiting;
    this.waiting = [];
    for (const resolve of go) resolve();
  }
}

/** The lockstep of a context's generating sequences. */
export const lockstepOf = perKey((_context: LlamaContext) => new Lockstep());
