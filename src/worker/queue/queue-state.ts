import type { QueueConsumer } from './queue-consumer.js';

/** One queue as the slot scheduler sees it. */
export interface QueueState {
  consumer: QueueConsumer;
  index: number;
  /** A fetch may find a job: not drained when last looked at, or woken since. */
  ready: boolean;
  /** The next delayed job of this queue is due then (ms since the epoch); 0 if none is known. */
  dueAt: number;
}

/** A marker scored 0 (or a time now past) means jobs wait; one scored with a later time, a delayed job due then. */
export function markQueue(q: QueueState, score: number): void {
  if (score <= Date.now()) {
    q.ready = true;
    q.dueAt = 0;
  } else {
    q.dueAt = q.dueAt > 0 ? Math.min(q.dueAt, score) : score;
  }
}

/** Queues whose next delayed job has come due may be fetched from again. */
export function promoteDue(queues: QueueState[]): void {
  const now = Date.now();
  for (const q of queues) {
    if (!q.ready && q.dueAt > 0 && q.dueAt <= now) {
      q.ready = true;
      q.dueAt = 0;
    }
  }
}
