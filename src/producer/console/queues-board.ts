import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { allQueueNames } from '../../shared/queue-layout.js';
import type { Producer } from '../producer.js';

/** `/queues`: bull-board over every queue of the layout, for looking at raw jobs. */
export async function queuesBoard(app: FastifyInstance, p: Producer): Promise<void> {
  const adapter = new FastifyAdapter().setBasePath('/queues');
  createBullBoard({
    queues: allQueueNames().map((name) => new BullMQAdapter(p.queue(name))),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'docfleet queues' } },
  });
  await app.register(adapter.registerPlugin(), { prefix: '/queues' });
}
