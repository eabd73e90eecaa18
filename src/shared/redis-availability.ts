import type { Redis } from 'ioredis';

/** Told once when Redis goes away (with the first reason) and once when it is back. */
export interface AvailabilityListener {
  unavailable(reason: Error): void;
  available(): void;
}

/**
 * Whether every connection of one component (a client and its duplicates: BullMQ's blocking connections,
 * the scheduler's) is up, tracked from their events rather than by asking Redis: a probe that sends a
 * command would wait as long as the outage does. Errors and reconnects of several connections during one
 * outage make one transition, so the outage is reported once, not once per connection and retry.
 */
export class RedisAvailability {
  /** Connections that are between losing Redis and being ready again. */
  private readonly waiting = new Set<Redis>();
  private listener?: AvailabilityListener;

  /** False from the first lost connection until every connection is ready again. */
  get available(): boolean {
    return this.waiting.size === 0;
  }

  /** Sets who is told about transitions (one listener: the component's log). */
  onChange(listener: AvailabilityListener): void {
    this.listener = listener;
  }

  watch(client: Redis): void {
    const lost = (reason: Error) => {
      const wasAvailable = this.available;
      this.waiting.add(client);
      if (wasAvailable) this.listener?.unavailable(reason);
    };
    const settled = () => {
      if (!this.waiting.delete(client)) return;
      if (this.available) this.listener?.available();
    };
    client.on('error', (err: Error) => lost(err));
    // An unplanned close is followed by 'reconnecting'; a planned one (disconnect, quit) is not.
    client.on('reconnecting', () => lost(new Error('connection to Redis lost')));
    client.on('ready', settled);
    // A connection closed for good (shutdown) no longer counts either way; its closing is no comeback.
    client.on('end', () => this.waiting.delete(client));
  }
}
