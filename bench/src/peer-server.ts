import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../dist/shared/local-redis.js';
import { killOnExit, log, ROOT } from './common.js';

/** llama.cpp's own `llama-server`, built from the source node-llama-cpp ships, as the peer docfleet is held to. */

/** The built binary, or why there is none (the peer rows then say so and the rest of the benchmark runs). */
export type PeerBinary = { path: string } | { unavailable: string };

/**
 * Runs scripts/build-llama-server.sh: minutes the first time, then the cached binary. Its last stderr line says
 * why a build could not be made (cmake or g++ missing, a failed compile).
 */
export async function buildPeer(): Promise<PeerBinary> {
  log('llama-server: building from node-llama-cpp’s llama.cpp source, or reusing the cached build');
  const proc = spawn(path.join(ROOT, 'scripts/build-llama-server.sh'), [], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    process.stderr.write(c);
  });
  const code = await new Promise<number | null>((resolve) => {
    proc.once('error', () => resolve(null));
    proc.once('exit', (c) => resolve(c));
  });
  const binary = stdout.trim().split('\n').pop();
  if (code === 0 && binary) return { path: binary };
  const why = stderr
    .trim()
    .split('\n')
    .pop()
    ?.replace(/^build-llama-server: /, '');
  return { unavailable: why || `scripts/build-llama-server.sh exited with ${code}` };
}

export interface PeerOptions {
  modelPath: string;
  /** -np: slots, as docfleet's sequences. */
  slots: number;
  /** Tokens per slot, as docfleet's per-sequence context; -c is slots × this. */
  contextPerSlot: number;
  threads: number;
  flashAttention: boolean;
}

export interface PeerServer {
  url: string;
  args: string[];
  stop(): Promise<void>;
}

/** Models whose repacked weights crashed the server: they run with --no-repack from then on. */
const noRepack = new Set<string>();

/**
 * Starts llama-server on a free port and resolves once it has loaded the model and decoded a first token. The
 * server repacks quantised weights for the CPU's fastest kernels (AMX included), as node-llama-cpp does; where
 * that crashes (some virtual machines report AMX without granting it), it runs again with --no-repack, and its
 * args say so.
 */
export async function startPeer(binary: string, opts: PeerOptions): Promise<PeerServer> {
  if (!noRepack.has(opts.modelPath)) {
    // The server decodes a warm-up batch before it reports healthy, so a crash may come before the first request.
    const server = await launch(binary, opts, []).catch(() => undefined);
    const decoded =
      server &&
      (await fetch(`${server.url}/completion`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'Once upon a time', n_predict: 1, cache_prompt: false }),
      }).then(
        (r) => r.ok,
        () => false,
      ));
    if (decoded) return server;
    await server?.stop();
    log(
      `llama-server: ${path.basename(opts.modelPath)} does not decode with repacked weights; running it with --no-repack`,
    );
    noRepack.add(opts.modelPath);
  }
  return launch(binary, opts, ['--no-repack']);
}

async function launch(binary: string, opts: PeerOptions, extra: string[]): Promise<PeerServer> {
  const port = await freePort();
  const args = [
    ['-m', opts.modelPath],
    ['--host', '127.0.0.1', '--port', String(port)],
    ['-np', String(opts.slots), '-c', String(opts.slots * opts.contextPerSlot)],
    ['-t', String(opts.threads), '-fa', opts.flashAttention ? 'on' : 'off'],
    // Every document is new to the server, as to docfleet: no prompt reuse between requests.
    ['--no-cache-prompt', '--cache-ram', '0', '--no-webui'],
    extra,
  ].flat();
  const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  killOnExit(proc);
  let tail = '';
  proc.stderr.on('data', (c: Buffer) => (tail = (tail + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`llama-server exited (${proc.exitCode ?? proc.signalCode}):\n${tail}`);
    }
    const ok = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`llama-server did not become ready within 120 s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    args,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
