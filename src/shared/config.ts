import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * All settings, read once from the environment and CLI flags into typed values.
 * A flag wins over its environment variable, which wins over the default.
 * Each setting names both so that an error can tell the user exactly what to change.
 */
interface Setting<T extends z.ZodType> {
  env: string;
  flag: string;
  schema: T;
}

function setting<T extends z.ZodType>(env: string, flag: string, schema: T): Setting<T> {
  return { env, flag, schema };
}

const positiveInt = z.coerce.number().int().positive();
const auto = <T extends z.ZodType>(inner: T) => z.union([z.literal('auto'), inner]);
/** A repeated flag gives an array; its environment variable a list split at `separators`. */
const list = <T extends z.ZodType>(separators: RegExp, item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(separators)
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );
/** A flag without a value gives true; its environment variable true/false/1/0. */
const flagged = z.preprocess(
  (v) => (typeof v === 'string' ? (({ true: true, '1': true, false: false, '0': false } as const)[v] ?? v) : v),
  z.boolean(),
);

const commonSettings = {
  /** @defaultValue `redis://127.0.0.1:6379` */
  redisUrl: setting(
    'REDIS_URL',
    '--redis-url',
    z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .default('redis://127.0.0.1:6379'),
  ),
  /** Redis key prefix of every queue and result; lets fleets (and tests) share a Redis. @defaultValue `docfleet` */
  prefix: setting(
    'DOCFLEET_PREFIX',
    '--prefix',
    z
      .string()
      .regex(/^[\w.-]+$/)
      .default('docfleet'),
  ),
  /** @defaultValue `info` */
  logLevel: setting(
    'LOG_LEVEL',
    '--log-level',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  /** Largest document accepted, MiB. @defaultValue 50 */
  maxDocumentMb: setting('DOCFLEET_MAX_DOCUMENT_MB', '--max-document-mb', z.coerce.number().positive().default(50)),
  /** How long results are kept after a job completes, days. @defaultValue 30 */
  resultTtlDays: setting('DOCFLEET_RESULT_TTL_DAYS', '--result-ttl-days', z.coerce.number().positive().default(30)),
};

/** Where documents may be fetched from (workers, and `submit`, which hashes them). */
const urlAccessSettings = {
  /** URL prefixes documents may be fetched from, redirects included; none turns fetching off. @defaultValue `[]` */
  allowUrlPrefixes: setting(
    'DOCFLEET_ALLOW_URL_PREFIXES',
    '--allow-url-prefix',
    list(/[\s,]+/, z.string().regex(/^https?:\/\/[^/]/i, 'must be http(s) URLs')).default([]),
  ),
  /** Whether fetched URLs may lead to loopback and private addresses. @defaultValue false */
  allowPrivateAddresses: setting(
    'DOCFLEET_ALLOW_PRIVATE_ADDRESSES',
    '--allow-private-addresses',
    flagged.default(false),
  ),
};

const workerSettings = {
  ...commonSettings,
  ...urlAccessSettings,
  /**
   * Directories whose files (symbolic links resolved) the worker may read; none means no local file.
   * @defaultValue `[]`
   */
  documentsRoots: setting('DOCUMENTS_ROOTS', '--documents-root', list(/[,:]/, z.string().min(1)).default([])),
  modelPath: setting('MODEL_PATH', '--model', z.string().min(1, 'is required: the path of a .gguf file')),
  /** @defaultValue `cpu` */
  device: setting('DOCFLEET_DEVICE', '--device', z.enum(['cpu', 'gpu']).default('cpu')),
  /** Which jobs this worker takes; defaults to its device. */
  tag: setting('DOCFLEET_TAG', '--tag', z.enum(['cpu', 'gpu']).optional()),
  /** What the model is for; `auto` reads it from the model's metadata. @defaultValue `auto` */
  role: setting('DOCFLEET_ROLE', '--role', z.enum(['auto', 'generate', 'embed']).default('auto')),
  /** Jobs at once = context sequences. @defaultValue 4 */
  concurrency: setting('DOCFLEET_CONCURRENCY', '--concurrency', positiveInt.max(256).default(4)),
  /** CPU threads for inference; `auto` sizes them from the CPU budget. @defaultValue `auto` */
  threads: setting('DOCFLEET_THREADS', '--threads', auto(positiveInt.max(1024)).default('auto')),
  /**
   * llama.cpp contexts the sequences are split over, each with its own threads; `auto` fills the CPU budget at
   * the tuned thread count (one on a GPU). @defaultValue `auto`
   */
  contexts: setting('DOCFLEET_CONTEXTS', '--contexts', auto(positiveInt.max(256)).default('auto')),
  /** Tokens per sequence; `auto` fits the model and memory. @defaultValue `auto` */
  contextSize: setting('DOCFLEET_CONTEXT_SIZE', '--context-size', auto(positiveInt.min(256)).default('auto')),
  /** Layers offloaded to the GPU. @defaultValue `auto` */
  gpuLayers: setting(
    'DOCFLEET_GPU_LAYERS',
    '--gpu-layers',
    z.union([z.enum(['auto', 'max']), z.coerce.number().int().min(0)]).default('auto'),
  ),
  /** Pages beyond which a PDF is refused. @defaultValue 2000 */
  maxPages: setting('DOCFLEET_MAX_PAGES', '--max-pages', positiveInt.default(2000)),
  /** Hard limit on text extraction per document, ms. @defaultValue 60000 */
  parseTimeoutMs: setting('DOCFLEET_PARSE_TIMEOUT_MS', '--parse-timeout-ms', positiveInt.default(60_000)),
  /** Heap limit of the text-extraction thread, MiB. @defaultValue 1024 */
  parseMemoryMb: setting('DOCFLEET_PARSE_MEMORY_MB', '--parse-memory-mb', positiveInt.min(64).default(1024)),
  /** On SIGTERM, how long in-flight jobs may run before they are handed back to the queue, ms. @defaultValue 30000 */
  graceMs: setting('DOCFLEET_GRACE_MS', '--grace-ms', z.coerce.number().int().min(0).default(30_000)),
  /** Port of /metrics, /healthz and /readyz; 0 disables. @defaultValue 9464 */
  metricsPort: setting(
    'DOCFLEET_METRICS_PORT',
    '--metrics-port',
    z.coerce.number().int().min(0).max(65535).default(9464),
  ),
  /** Attempts per job before a transient failure is final. @defaultValue 3 */
  attempts: setting('DOCFLEET_ATTEMPTS', '--attempts', positiveInt.max(100).default(3)),
  /**
   * How long a job's lock lasts without renewal, ms: a worker that dies (SIGKILL, node loss) has its
   * jobs taken over by another worker about this long after. @defaultValue 30000
   */
  lockMs: setting('DOCFLEET_LOCK_MS', '--lock-ms', positiveInt.min(1_000).default(30_000)),
};

const producerSettings = {
  ...commonSettings,
  ...urlAccessSettings,
  /** Attempts per job before a transient failure is final. @defaultValue 3 */
  attempts: workerSettings.attempts,
};

type Settings = Record<string, Setting<z.ZodType>>;
type Values<S extends Settings> = { [K in keyof S]: z.output<S[K]['schema']> };

/** Flags as commander hands them over: camelCase keys (`--max-pages` → maxPages), string or number values. */
export type Flags = Record<string, unknown>;

function flagKey(flag: string): string {
  return flag.replace(/^--/, '').replace(/-(\w)/g, (_m, c: string) => c.toUpperCase());
}

function load<S extends Settings>(settings: S, flags: Flags, env: NodeJS.ProcessEnv): Values<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(settings)) {
    const fromFlag = flags[flagKey(s.flag)];
    const raw = fromFlag !== undefined ? fromFlag : env[s.env] === '' ? undefined : env[s.env];
    const parsed = s.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else {
      const given = raw === undefined ? 'not set' : `got ${JSON.stringify(raw)}`;
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      problems.push(`${s.flag} / ${s.env}: ${why} (${given})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return out as Values<S>;
}

export type CommonConfig = Values<typeof commonSettings>;
export type ProducerConfig = Values<typeof producerSettings>;
export type WorkerConfig = Omit<Values<typeof workerSettings>, 'tag'> & { tag: 'cpu' | 'gpu' };

export function loadProducerConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): ProducerConfig {
  return load(producerSettings, flags, env);
}

export function loadWorkerConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const values = load(workerSettings, flags, env);
  return { ...values, tag: values.tag ?? values.device };
}

export const MiB = 1024 * 1024;
