import { z } from 'zod';
import { accessSettings } from './access-settings.js';
import { connectionSettings } from './connection-settings.js';
import { jobSettings } from './job-settings.js';
import { auto, integer, oneOf, setting } from './setting.js';

const device = ['cpu', 'gpu'] as const;

/** Settings of `docfleet worker`. */
export const workerSettings = {
  ...connectionSettings,
  modelPath: setting(
    '--model',
    'file.gguf',
    'MODEL_PATH',
    z.string({ error: 'is required: the path of a .gguf file' }).min(1, 'is required: the path of a .gguf file'),
    'The GGUF model the worker holds (required).',
  ),
  device: setting('--device', 'device', 'DOCFLEET_DEVICE', oneOf(device).default('cpu'), 'Where inference runs.'),
  tag: setting(
    '--tag',
    'tag',
    'DOCFLEET_TAG',
    oneOf(device).optional(),
    'Which tagged jobs the worker takes; unset, those of its device.',
  ),
  role: setting(
    '--role',
    'role',
    'DOCFLEET_ROLE',
    oneOf(['auto', 'generate', 'embed']).default('auto'),
    "What the model is for: generate (summarize, extract) or embed; auto reads it from the model's metadata.",
  ),
  concurrency: setting(
    '--concurrency',
    'n',
    'DOCFLEET_CONCURRENCY',
    integer(1, 256).default(4),
    'Jobs at once, one context sequence each.',
  ),
  threads: setting(
    '--threads',
    'n|auto',
    'DOCFLEET_THREADS',
    auto(integer(1, 1024)).default('auto'),
    'CPU threads for inference; auto sizes them from the CPU budget and tunes them.',
  ),
  contexts: setting(
    '--contexts',
    'n|auto',
    'DOCFLEET_CONTEXTS',
    auto(integer(1, 256)).default('auto'),
    'llama.cpp contexts the sequences are split over, each with its own threads; auto fills the CPU budget at the tuned thread count (one on a GPU).',
  ),
  contextSize: setting(
    '--context-size',
    'n|auto',
    'DOCFLEET_CONTEXT_SIZE',
    auto(integer(256)).default('auto'),
    'Tokens per sequence; auto fits the model and the memory.',
  ),
  gpuLayers: setting(
    '--gpu-layers',
    'n|auto|max',
    'DOCFLEET_GPU_LAYERS',
    z
      .union([z.enum(['auto', 'max']), integer(0)], { error: 'expected auto, max or a whole number of at least 0' })
      .default('auto'),
    'Model layers offloaded to the GPU.',
  ),
  maxDocumentMb: jobSettings.maxDocumentMb,
  ...accessSettings,
  maxPages: setting(
    '--max-pages',
    'n',
    'DOCFLEET_MAX_PAGES',
    integer(1).default(2000),
    'Pages beyond which a PDF is refused.',
  ),
  parseTimeoutMs: setting(
    '--parse-timeout-ms',
    'n',
    'DOCFLEET_PARSE_TIMEOUT_MS',
    integer(1).default(60_000),
    'Hard limit on the text extraction of one document, ms.',
  ),
  parseMemoryMb: setting(
    '--parse-memory-mb',
    'n',
    'DOCFLEET_PARSE_MEMORY_MB',
    integer(64).default(1024),
    'Heap limit of the text-extraction thread, MiB.',
  ),
  graceMs: setting(
    '--grace-ms',
    'n',
    'DOCFLEET_GRACE_MS',
    integer(0).default(30_000),
    'On SIGTERM, how long running jobs may still run before they are handed back to the queue, ms.',
  ),
  lockMs: setting(
    '--lock-ms',
    'n',
    'DOCFLEET_LOCK_MS',
    integer(1_000).default(30_000),
    "How long a job's lock lasts without renewal, ms: the jobs of a worker that dies move to another worker about this long after.",
  ),
  metricsPort: setting(
    '--metrics-port',
    'port',
    'DOCFLEET_METRICS_PORT',
    integer(0, 65535).default(9464),
    'Port of /metrics, /healthz and /readyz; each worker on a host needs its own, 0 picks a free one and logs it.',
  ),
  heartbeatMs: setting(
    '--heartbeat-ms',
    'n',
    'DOCFLEET_HEARTBEAT_MS',
    integer(100).default(5_000),
    'How often the worker writes its identity and load to Redis for `docfleet console`, ms; a worker silent for three intervals drops off the list.',
  ),
  attempts: jobSettings.attempts,
  resultTtlDays: jobSettings.resultTtlDays,
};
