import { spawn, type ChildProcess } from 'node:child_process';
import { fleetEnvironment, waitFor, type FleetEnv } from './fleet.js';
import { CLI } from './paths.js';

/** A `docfleet console` process of the built CLI. */
export interface ConsoleProcess {
  proc: ChildProcess;
  /** Where it says it listens, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  stop(): Promise<number | string>;
}

/** Starts `docfleet console --port 0 …args` and waits for the line that says where it listens. */
export async function startConsoleProcess(
  env: FleetEnv,
  args: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<ConsoleProcess> {
  const proc = spawn(process.execPath, [CLI, 'console', '--port', '0', ...args], {
    env: { ...process.env, ...fleetEnvironment(env), LOG_FORMAT: 'json', ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    () => gone || /console on http/.test(stderr),
    30_000,
    () => `the console to start: ${stderr}`,
  );
  const url = /console on (http:\/\/\S+?)\/?\s/.exec(stderr)?.[1];
  if (!url) throw new Error(`console did not start: ${stderr}`);
  return {
    proc,
    url,
    port: Number(new URL(url).port),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
