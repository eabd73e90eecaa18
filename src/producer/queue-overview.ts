import { allQueueNames } from '../shared/queue-layout.js';
import type { Producer } from './producer.js';
import { QUEUE_STATES } from './queue-exporter.js';

/** The states `docfleet queues` counts: the exporter's, and the summaries waiting for their parts. */
export const OVERVIEW_STATES = [...QUEUE_STATES, 'waiting-children'] as const;
export type OverviewState = (typeof OVERVIEW_STATES)[number];

/** One queue of the layout as `docfleet queues` shows it. */
export interface QueueOverview {
  queue: string;
  /** Paused queues keep their jobs; no worker takes a new one until it is resumed. */
  paused: boolean;
  counts: Record<OverviewState, number>;
  /** BullMQ workers connected to the queue (a docfleet worker consumes its own tag's queue and `any`'s). */
  workers: number;
}

/** Every queue of the fleet's layout, in layout order, through BullMQ's public API. */
export function queueOverview(p: Producer): Promise<QueueOverview[]> {
  return Promise.all(
    allQueueNames().map(async (name) => {
      const queue = p.queue(name);
      const [counts, paused, workers] = await Promise.all([
        queue.getJobCounts(...OVERVIEW_STATES),
        queue.isPaused(),
        queue.getWorkersCount(),
      ]);
      return { queue: name, paused, counts: counts as Record<OverviewState, number>, workers };
    }),
  );
}
