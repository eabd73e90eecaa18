import { z } from 'zod';

/** Parameters of an embedding job; they change the output, so they are part of the job id. */
export const embedParams = z.object({
  /**
   * Most characters per chunk. Alone it keeps its old meaning (chunks of up to that many characters, now also
   * within the model's input limit); with chunkTokens both limits hold.
   */
  chunkChars: z.number().int().positive().optional(),
  /** Most tokens per chunk, by the embedding model's own tokenizer (default 256; capped by its input limit). */
  chunkTokens: z.number().int().positive().optional(),
  /** Tokens each chunk repeats from the end of the one before (default 0). */
  chunkOverlapTokens: z.number().int().nonnegative().optional(),
  /** The model (GGUF file name without .gguf) the result must come from; unset means whatever the fleet holds. */
  model: z.string().min(1).optional(),
});
export type EmbedParams = z.infer<typeof embedParams>;

export interface EmbeddingChunk {
  /** Character range [start, end) into the document text. */
  start: number;
  end: number;
  /** 1-based page the chunk starts on (= pageStart; kept for readers of older results). */
  page: number;
  /** 1-based pages of the chunk's first and last character (absent in results stored before they existed). */
  pageStart?: number;
  pageEnd?: number;
  vector: Float32Array;
}

export interface EmbedOutput {
  dimensions: number;
  chunks: EmbeddingChunk[];
}
