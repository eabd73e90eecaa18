import { stat } from 'node:fs/promises';
import path from 'node:path';
import {
  getLlama,
  GgufInsights,
  InsufficientMemoryError,
  LlamaLogLevel,
  readGgufFileInfo,
  type Llama,
  type LlamaModel,
} from 'node-llama-cpp';
import { detectCpuBudget } from '../../shared/cpu-budget.js';
import { ConfigError } from '../../shared/errors.js';
import type { ModelRole } from '../../shared/queue-layout.js';
import { EmbeddingPool } from './embedding-pool.js';
import { SequencePool } from './sequence-pool.js';
import { promptStyleOf, type GenerationEnv, type PromptStyle } from './generation.js';
import { resolveRole } from './resolve-role.js';
import { chooseThreads, type ThreadChoice } from './thread-tuner.js';

export interface ModelHostOptions {
  modelPath: string;
  device: 'cpu' | 'gpu';
  role: 'auto' | ModelRole;
  /** Jobs at once: context sequences of a generating model, concurrent jobs of an embedding one. */
  sequences: number;
  threads: 'auto' | number;
  /**
   * llama.cpp contexts evaluating side by side, the sequences split over them; `auto` fills the CPU budget at
   * the tuned thread count (a GPU runs one). @defaultValue `auto`
   */
  contexts?: 'auto' | number;
  /** Tokens per sequence. */
  contextSize: 'auto' | number;
  gpuLayers: 'auto' | 'max' | number;
  /** Where the thread tuner keeps its choices (default ~/.cache/docfleet). */
  tuneCacheDir?: string;
}

export type HostLog = (msg: string, fields: Record<string, unknown>) => void;

/** What planning a generation needs of the model: no sequence, nothing is generated. */
export interface TextModel {
  model: LlamaModel;
  style: PromptStyle;
  contextSize: number;
}

/** The embedding contexts every embedding job shares, and the length of the vectors they give. */
export interface Embedder {
  pool: EmbeddingPool;
  dimensions: number;
}

/** Longest context per sequence chosen automatically: longer rarely helps documents and costs memory. */
const AUTO_CONTEXT_MAX = 8192;
/** Embedding inputs are chunks of about a thousand characters; longer chunks are split to fit. */
const AUTO_EMBED_CONTEXT_MAX = 2048;
type Engine = { role: 'generate'; pool: SequencePool; style: PromptStyle } | { role: 'embed'; pool: EmbeddingPool };

/** The one model a worker process holds, and the slots jobs run in. */
export class ModelHost {
  readonly role: ModelRole;
  readonly modelName: string;
  readonly device: 'cpu' | 'gpu';
  readonly threads: number;
  readonly sequences: number;
  /** llama.cpp contexts evaluating side by side. */
  readonly contexts: number;
  readonly contextSize: number;
  readonly loadMs: number;
  readonly tuning: ThreadChoice;

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly engine: Engine,
    info: {
      device: 'cpu' | 'gpu';
      sequences: number;
      contextSize: number;
      loadMs: number;
      tuning: ThreadChoice;
      modelPath: string;
    },
  ) {
    this.role = engine.role;
    this.modelName = path.basename(info.modelPath).replace(/\.gguf$/i, '');
    this.device = info.device;
    this.threads = info.tuning.threads;
    this.sequences = info.sequences;
    this.contexts = engine.pool.size;
    this.contextSize = info.contextSize;
    this.loadMs = info.loadMs;
    this.tuning = info.tuning;
  }

  static async load(opts: ModelHostOptions, log: HostLog = () => {}): Promise<ModelHost> {
    const started = performance.now();
    if (!Number.isInteger(opts.sequences) || opts.sequences < 1)
      throw new ConfigError(`--concurrency must be a positive integer, got ${opts.sequences}`);
    await stat(opts.modelPath).catch((err: unknown) => {
      throw new ConfigError(
        `--model / MODEL_PATH: cannot read ${opts.modelPath}: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
    // llama.cpp repeats some warnings on every evaluation (e.g. per embedding from a causal model).
    const seen = new Set<string>();
    const llama = await getLlama({
      gpu: opts.device === 'gpu' ? 'auto' : false,
      build: 'never',
      // No library-wide cap: every context gets exactly the threads it is given.
      maxThreads: 0,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim();
        if (seen.has(text)) return;
        if (seen.size >= 1000) seen.clear();
        seen.add(text);
        log('llama.cpp', { level, message: text });
      },
    }).catch((err: unknown) => {
      throw new ConfigError(
        `node-llama-cpp has no usable prebuilt binary for --device ${opts.device}: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
    try {
      if (opts.device === 'gpu') await checkGpu(llama, opts);
      const model = await llama.loadModel({
        modelPath: opts.modelPath,
        gpuLayers: opts.device === 'gpu' ? opts.gpuLayers : 0,
      });
      if (opts.device === 'gpu' && model.gpuLayers === 0) {
        throw new ConfigError(
          `--device gpu: no layer of ${opts.modelPath} fits in free VRAM; free some VRAM or use --device cpu`,
        );
      }
      const role = resolveRole(model, opts.role);
      const budget = detectCpuBudget();
      const tuning = await chooseThreads({
        model,
        modelPath: opts.modelPath,
        role,
        threads: opts.threads,
        budget,
        cacheDir: opts.tuneCacheDir,
        // The tuner measures each thread count in the layout this worker would run at it.
        contextsAt: (threads) => contextCount(opts, { threads, budget }),
      });
      const engine = await createEngine(model, role, opts, tuning, (err) =>
        log('fewer contexts than asked: not enough memory for more, one context holds every sequence', {
          error: err.message,
        }),
      );
      const contextSize = engine.pool.contextSize;
      const loadMs = Math.round(performance.now() - started);
      const host = new ModelHost(llama, model, engine, { ...opts, contextSize, loadMs, tuning });
      log('model loaded', {
        model: host.modelName,
        role,
        device: opts.device,
        gpuLayers: model.gpuLayers,
        sequences: opts.sequences,
        contextSize,
        threads: tuning.threads,
        contexts: engine.pool.size,
        flashAttention: engine.role === 'generate' ? engine.pool.flashAttention : undefined,
        threadSource: tuning.source,
        cpuBudget: tuning.budget.cpus,
        cpuBudgetSource: tuning.budget.source,
        threadTrials: tuning.trials,
        flashAttentionTrials: tuning.flashAttentionTrials,
        threadCacheError: tuning.cacheError,
        tuneMs: tuning.tuneMs,
        loadMs,
      });
      return host;
    } catch (err) {
      await llama.dispose();
      if (err instanceof ConfigError) throw err;
      if (err instanceof InsufficientMemoryError) {
        throw new ConfigError(
          `not enough memory for ${opts.sequences} sequence(s) with context size ${opts.contextSize} for ${opts.modelPath}; ` +
            `lower --concurrency or --context-size (${err.message})`,
        );
      }
      throw new ConfigError(`cannot load ${opts.modelPath}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The generating model, for planning prompts; only a generating worker has one. */
  get textModel(): TextModel {
    const engine = this.generating();
    return { model: this.model, style: engine.style, contextSize: engine.pool.contextSize };
  }

  /** The embedding contexts; only an embedding worker has them. */
  get embedder(): Embedder {
    const engine = this.engine;
    if (engine.role !== 'embed') throw new Error(`${this.modelName} generates: it has no embedding contexts`);
    return { pool: engine.pool, dimensions: this.model.embeddingVectorSize };
  }

  /** Lends one context sequence of a generating model for the length of `use`. */
  async withSequence<T>(signal: AbortSignal | undefined, use: (env: GenerationEnv) => Promise<T>): Promise<T> {
    const engine = this.generating();
    const sequence = await engine.pool.acquire();
    try {
      return await use({ model: this.model, sequence, style: engine.style, signal });
    } finally {
      engine.pool.release(sequence);
    }
  }

  async dispose(): Promise<void> {
    await this.llama.dispose();
  }

  private generating() {
    const engine = this.engine;
    if (engine.role !== 'generate') throw new Error(`${this.modelName} embeds: it has no sequences to generate with`);
    return engine;
  }
}

async function createEngine(
  model: LlamaModel,
  role: ModelRole,
  opts: ModelHostOptions,
  tuning: ThreadChoice,
  onFallback: (err: Error) => void,
): Promise<Engine> {
  const { threads, flashAttention } = tuning;
  const train = model.trainContextSize;
  const contexts = contextCount(opts, tuning);
  if (role === 'embed') {
    // node-llama-cpp evaluates one embedding input per context at a time, so concurrent jobs are served by
    // several contexts evaluating side by side. Encoder models must see a whole input in one batch, hence
    // batchSize = contextSize.
    const contextSize = opts.contextSize === 'auto' ? Math.min(train, AUTO_EMBED_CONTEXT_MAX) : opts.contextSize;
    const pool = await EmbeddingPool.create(model, { contexts, contextSize, threads });
    return { role, pool };
  }
  const contextSize =
    opts.contextSize === 'auto'
      ? { min: Math.min(train, 512), max: Math.min(train, AUTO_CONTEXT_MAX) }
      : opts.contextSize;
  const pool = await SequencePool.create(
    model,
    { sequences: opts.sequences, contexts, contextSize, threads, flashAttention },
    onFallback,
  );
  return { role, pool, style: promptStyleOf(model) };
}

/**
 * As many contexts as the CPU budget holds at the tuned thread count, never more than one per job slot; a
 * GPU evaluates one context at a time anyway.
 */
export function contextCount(
  opts: Pick<ModelHostOptions, 'contexts' | 'device' | 'sequences'>,
  tuning: Pick<ThreadChoice, 'threads' | 'budget'>,
): number {
  const auto = opts.device === 'gpu' ? 1 : Math.floor(tuning.budget.cpus / Math.max(1, tuning.threads));
  const wanted = opts.contexts === undefined || opts.contexts === 'auto' ? auto : opts.contexts;
  return Math.max(1, Math.min(opts.sequences, wanted));
}

/** --device gpu means GPU: never fall back to the CPU quietly. */
async function checkGpu(llama: Llama, opts: ModelHostOptions): Promise<void> {
  if (llama.gpu === false) {
    throw new ConfigError(
      '--device gpu: no usable GPU backend (CUDA/Vulkan/Metal) found — no GPU, no driver, or node-llama-cpp has no ' +
        'working GPU binary here. Use --device cpu, or install the GPU driver and the CUDA/Vulkan build of node-llama-cpp.',
    );
  }
  if (opts.gpuLayers === 0 || opts.gpuLayers === 'auto') return;
  const insights = await GgufInsights.from(await readGgufFileInfo(opts.modelPath), llama);
  const layers = opts.gpuLayers === 'max' ? insights.totalLayers : Math.min(opts.gpuLayers, insights.totalLayers);
  const need = (await insights.estimateModelResourceRequirementsV2({ gpuLayers: layers })).gpuVram;
  const vram = await llama.getVramState();
  if (need > vram.free) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new ConfigError(
      `--device gpu: ${layers} layers of ${path.basename(opts.modelPath)} need about ${gib(need)} of VRAM but only ` +
        `${gib(vram.free)} of ${gib(vram.total)} is free on ${llama.gpu}; lower --gpu-layers, use a smaller model or --device cpu`,
    );
  }
}
