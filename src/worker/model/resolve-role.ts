import type { LlamaModel } from 'node-llama-cpp';
import { ConfigError } from '../../shared/errors.js';
import type { ModelRole } from '../../shared/queue-layout.js';
import type { ModelHostOptions } from './model-host.js';

const EMBEDDING_ARCHITECTURES = new Set([
  'bert',
  'modern-bert',
  'nomic-bert',
  'nomic-bert-moe',
  'neo-bert',
  'jina-bert-v2',
  'jina-bert-v3',
  'eurobert',
  'gemma-embedding',
  't5encoder',
]);
/** GGUF pooling types mean, cls and last; none (0) is a generator, rank (4) a reranker. */
const EMBEDDING_POOLING = new Set([1, 2, 3]);

/** An embedding model announces itself by a pooling type or an encoder-only architecture. */
export function resolveRole(model: LlamaModel, wanted: ModelHostOptions['role']): ModelRole {
  if (wanted !== 'auto') return wanted;
  const arch = model.fileInfo.metadata.general.architecture;
  const archMeta = (model.fileInfo.metadata as unknown as Record<string, { pooling_type?: number } | undefined>)[arch];
  const pooling = archMeta?.pooling_type;
  if (pooling === 4)
    throw new ConfigError(`${model.filename ?? 'the model'} is a reranking model; docfleet can only generate or embed`);
  return EMBEDDING_ARCHITECTURES.has(arch) || (pooling !== undefined && EMBEDDING_POOLING.has(pooling))
    ? 'embed'
    : 'generate';
}
