import { RESULT_MARK } from './common.js';
import { ceiling } from './scenarios/ceiling.js';
import { embedScenario } from './scenarios/embed.js';
import { naive } from './scenarios/naive.js';
import { peerPrompts } from './scenarios/peer-prompts.js';
import { queueEnqueue, queueProcess } from './scenarios/queue.js';

/**
 * Runs one scenario in a process of its own (`node bench/dist/child.js <scenario> <json>`), so that each
 * starts clean: one llama.cpp instance per process, no leftover connections or timers. The answer is one
 * marked JSON line on stdout.
 */

const scenarios: Record<string, (input: never) => Promise<unknown>> = {
  ceiling,
  naive,
  'queue-enqueue': queueEnqueue,
  'queue-process': queueProcess,
  embed: embedScenario,
  'peer-prompts': peerPrompts,
};

const [scenario, json] = process.argv.slice(2);
const run = scenarios[scenario ?? ''];
if (!run || !json) {
  process.stderr.write(`usage: child.js <${Object.keys(scenarios).join('|')}> <input-json>\n`);
  process.exit(2);
}
run(JSON.parse(json) as never).then(
  (result) => {
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`, () => process.exit(0));
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
