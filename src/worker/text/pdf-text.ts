import { Worker } from 'node:worker_threads';
import { compiledSibling } from '../../shared/compiled-path.js';
import { MiB } from '../../shared/config.js';
import { PermanentError } from '../../shared/errors.js';
import type { DocumentText } from './document-text.js';
import type { ThreadReply, ThreadRequest } from './pdf-text-thread.js';

export interface PdfLimits {
  maxPages: number;
  parseTimeoutMs: number;
  /** Heap limit of the extraction thread. */
  parseMemoryMb: number;
}

export interface PdfText {
  doc: DocumentText;
  pages: number;
}

/** Often enough to stop a decompression bomb a few hundred MiB past the limit. */
const MEMORY_POLL_MS = 50;
/** Loading pdf.js takes about a second on a busy machine; far longer means the thread is stuck. */
const STARTUP_TIMEOUT_MS = 30_000;
const THREAD_URL = compiledSibling(import.meta.url, './pdf-text-thread.js');

interface Thread {
  worker: Worker;
  memoryMb: number;
  ready: Promise<void>;
  /** Stopped by close(), which says nothing about the document it was reading. */
  closed: boolean;
}

/**
 * Extracts PDF text in a worker thread, one document at a time. The thread is kept warm between documents
 * (loading pdf.js is costly) and replaced after it is stopped for a timeout, runs out of memory or crashes.
 */
export class PdfTextExtractor {
  #thread: Thread | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /** Text of the PDF in `bytes`, which are transferred to the thread: the caller must not use them afterwards. */
  extract(bytes: Uint8Array, limits: PdfLimits, signal?: AbortSignal): Promise<PdfText> {
    const turn = this.#queue.then(() => this.#extract(bytes, limits, signal));
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  /** Stops the thread; an extraction in progress fails. A later `extract` starts a new thread. */
  async close(): Promise<void> {
    const thread = this.#thread;
    if (!thread) return;
    this.#thread = undefined;
    thread.closed = true;
    await thread.worker.terminate();
  }

  async #extract(bytes: Uint8Array, limits: PdfLimits, signal?: AbortSignal): Promise<PdfText> {
    signal?.throwIfAborted();
    const thread = this.#warm(limits.parseMemoryMb);
    // An idle thread must not keep the process alive, a busy one must.
    thread.worker.ref();
    try {
      await thread.ready.catch((err: unknown) => {
        this.#discard(thread);
        throw err;
      });
      return await this.#run(thread, bytes, limits, signal);
    } finally {
      thread.worker.unref();
    }
  }

  #warm(memoryMb: number): Thread {
    if (this.#thread?.memoryMb !== memoryMb) {
      if (this.#thread) this.#discard(this.#thread);
      this.#thread = this.#spawn(memoryMb);
    }
    return this.#thread;
  }

  #spawn(memoryMb: number): Thread {
    const worker = new Worker(THREAD_URL, { resourceLimits: { maxOldGenerationSizeMb: memoryMb } });
    const ready = new Promise<void>((resolve, reject) => {
      const settle = (error?: Error): void => {
        clearTimeout(timer);
        worker.off('message', onReady).off('error', onError).off('exit', onExit);
        if (error) reject(error);
        else resolve();
      };
      const onReady = (reply: ThreadReply): void => {
        if (reply.kind === 'ready') settle();
      };
      const fail = (why: string, cause?: Error): void => settle(new Error(`PDF text thread ${why}`, { cause }));
      const onError = (err: Error): void => fail(`failed to start: ${err.message}`, err);
      const onExit = (code: number): void => fail(`exited with code ${code} before it was ready`);
      const timer = setTimeout(() => fail(`did not start within ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
      worker.on('message', onReady).on('error', onError).on('exit', onExit);
    });
    const thread: Thread = { worker, memoryMb, ready, closed: false };
    // Always listened to: an 'error' event nobody listens to would take the whole process down.
    worker.on('error', () => this.#discard(thread)).on('exit', () => this.#discard(thread));
    return thread;
  }

  #discard(thread: Thread): void {
    if (this.#thread === thread) this.#thread = undefined;
    void thread.worker.terminate();
  }

  #run(thread: Thread, bytes: Uint8Array, limits: PdfLimits, signal?: AbortSignal): Promise<PdfText> {
    const { worker } = thread;
    return new Promise<PdfText>((resolve, reject) => {
      const settle = (stopThread: boolean, outcome: () => void): void => {
        clearTimeout(timer);
        clearInterval(memoryWatch);
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (stopThread) this.#discard(thread);
        outcome();
      };
      const onMessage = (reply: ThreadReply): void => {
        if (reply.kind === 'text') {
          settle(false, () => resolve({ doc: { text: reply.text, pageStarts: reply.pageStarts }, pages: reply.pages }));
        } else if (reply.kind === 'failed') {
          settle(false, () => reject(new PermanentError(reply.category, reply.message)));
        }
      };
      const outOfMemory = (): void => {
        const error = new PermanentError(
          'parse-memory',
          `PDF text extraction needs more than ${limits.parseMemoryMb} MiB`,
        );
        settle(true, () => reject(error));
      };
      const onError = (err: Error & { code?: string }): void => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          outOfMemory();
          return;
        }
        const error = new PermanentError('malformed', `PDF crashed the text extractor: ${err.message}`);
        settle(true, () => reject(error));
      };
      const onExit = (code: number): void => {
        const error = thread.closed
          ? new Error('PDF text extractor was closed')
          : new PermanentError('malformed', `PDF text thread exited with code ${code}`);
        settle(false, () => reject(error));
      };
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the abort reason as given, as throwIfAborted() throws it
      const onAbort = (): void => settle(true, () => reject(signal?.reason));
      const timer = setTimeout(() => {
        const error = new PermanentError(
          'parse-timeout',
          `PDF text extraction took longer than ${limits.parseTimeoutMs} ms`,
        );
        settle(true, () => reject(error));
      }, limits.parseTimeoutMs);
      // The heap limit does not see buffers outside the heap (decoded streams and images), where decompression
      // bombs put their gigabytes. So while the thread works, the process may grow by at most the heap limit
      // and as much again; RSS also counts what the rest of the process allocates meanwhile, hence the slack.
      const rssLimit = process.memoryUsage.rss() + 2 * limits.parseMemoryMb * MiB;
      const memoryWatch = setInterval(() => {
        if (process.memoryUsage.rss() > rssLimit) outOfMemory();
      }, MEMORY_POLL_MS);

      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) {
        onAbort();
        return;
      }
      const owned = transferable(bytes);
      worker.postMessage({ bytes: owned, maxPages: limits.maxPages } satisfies ThreadRequest, [owned.buffer]);
    });
  }
}

/** `bytes` itself when it owns its whole buffer, else a copy that does (a pooled Buffer must not be transferred). */
function transferable(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole && bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}
