import { open, rm, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { JobData } from '../shared/job-types.js';
import { UserError } from '../shared/errors.js';
import type { ResultLine } from './batch-control.js';

/**
 * Compact export of a batch's embeddings for vector stores (`docfleet results <batch> --vectors out.f32`).
 *
 * - `out.f32`: every chunk vector of the batch's completed embed results, one row after another, each row
 *   `dimensions` little-endian IEEE-754 float32 values, no header. Row r starts at byte r × dimensions × 4.
 * - `out.f32.jsonl`: one JSON line per row, in row order:
 *   `{"row","jobId","document","start","end","page","pageStart","pageEnd","dimensions"}` (document is the name
 *   `results` shows, start/end the chunk's character range in the document text, pages 1-based: `page` is
 *   where the chunk starts (= pageStart), pageEnd where it ends).
 *
 * Rows follow the order results are read in. All rows must have the same dimensions (one model): a batch
 * embedded by models of different sizes is refused, and the partial files are removed.
 */

/** One line of the `.f32.jsonl` sidecar. */
export interface VectorRow {
  row: number;
  jobId: string;
  document: string;
  start: number;
  end: number;
  /** = pageStart. */
  page: number;
  pageStart: number;
  pageEnd: number;
  dimensions: number;
}

export interface VectorExportSummary {
  /** Rows (chunk vectors) written. */
  rows: number;
  /** Embed results they came from. */
  results: number;
  /** Dimensions of every row; undefined when there was nothing to export. */
  dimensions: number | undefined;
  vectorsFile: string;
  sidecarFile: string;
}

/** The export cannot be written as one matrix (mixed dimensions, malformed vectors). The user can fix it. */
export class VectorExportError extends UserError {
  override name = 'VectorExportError';
}

/** The sidecar of a `.f32` file: the same path with `.jsonl` appended. */
export function sidecarPath(vectorsFile: string): string {
  return `${vectorsFile}.jsonl`;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Writes vectors as results arrive, one document at a time: only the result in hand is in memory.
 * Use {@link VectorWriter.create}, {@link add} each result line (lines that are not completed embed results
 * are skipped), then {@link close}; on any failure call {@link abort}, which removes both files.
 */
export class VectorWriter {
  private rows = 0;
  private results = 0;
  private dimensions: number | undefined;
  private closed = false;

  private constructor(
    readonly vectorsFile: string,
    readonly sidecarFile: string,
    private readonly vectors: FileHandle,
    private readonly sidecar: FileHandle,
  ) {}

  static async create(vectorsFile: string): Promise<VectorWriter> {
    const sidecarFile = sidecarPath(vectorsFile);
    const vectors = await open(vectorsFile, 'w');
    try {
      return new VectorWriter(vectorsFile, sidecarFile, vectors, await open(sidecarFile, 'w'));
    } catch (err) {
      await vectors.close();
      await rm(vectorsFile, { force: true });
      throw err;
    }
  }

  /** Appends the line's vectors if it is a completed embed result; returns how many rows it added. */
  async add(line: ResultLine): Promise<number> {
    if (this.closed) throw new Error('VectorWriter: add() after close() or abort()');
    if (line.status !== 'completed' || !('result' in line) || line.result?.task !== 'embed') return 0;
    const output = line.result.output;
    // A result stored without its job reads back with an empty one (see the result store's decode).
    const job: Partial<JobData> = line.job;
    const document = job.doc?.name ?? '';
    const dims = output.dimensions;
    const chunks = output.chunks;
    if (chunks.length === 0) {
      this.results++;
      return 0;
    }
    if (!Number.isInteger(dims) || dims < 1) {
      throw new VectorExportError(`job ${line.jobId} (${document}): invalid embedding dimensions ${String(dims)}`);
    }
    if (this.dimensions === undefined) this.dimensions = dims;
    else if (dims !== this.dimensions) {
      throw new VectorExportError(
        `job ${line.jobId} (${document}) has ${dims}-dimension embeddings but earlier rows have ${this.dimensions}: ` +
          'a .f32 file holds vectors of one size only; the batch mixes embedding models (export each model’s batch separately)',
      );
    }
    const bytes = Buffer.allocUnsafe(chunks.length * dims * 4);
    let sidecar = '';
    chunks.forEach((chunk, i) => {
      const v = chunk.vector as ArrayLike<number> | undefined;
      if (!v || v.length !== dims) {
        throw new VectorExportError(
          `job ${line.jobId} (${document}): chunk ${i} has ${v ? v.length : 'no'} values, expected ${dims}`,
        );
      }
      writeRow(bytes, i * dims * 4, v);
      const row: VectorRow = {
        row: this.rows + i,
        jobId: line.jobId,
        document,
        start: chunk.start,
        end: chunk.end,
        page: chunk.page,
        // Results stored before chunks had a page range: a chunk then never spanned pages.
        pageStart: chunk.pageStart ?? chunk.page,
        pageEnd: chunk.pageEnd ?? chunk.page,
        dimensions: dims,
      };
      sidecar += `${JSON.stringify(row)}\n`;
    });
    await writeAll(this.vectors, bytes);
    await writeAll(this.sidecar, Buffer.from(sidecar, 'utf8'));
    this.rows += chunks.length;
    this.results++;
    return chunks.length;
  }

  async close(): Promise<VectorExportSummary> {
    if (!this.closed) {
      this.closed = true;
      await Promise.all([this.vectors.close(), this.sidecar.close()]);
    }
    return {
      rows: this.rows,
      results: this.results,
      dimensions: this.dimensions,
      vectorsFile: this.vectorsFile,
      sidecarFile: this.sidecarFile,
    };
  }

  /** Closes and deletes both files: a half-written export must not pass for a whole one. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await Promise.allSettled([this.vectors.close(), this.sidecar.close()]);
    }
    await Promise.all([rm(this.vectorsFile, { force: true }), rm(this.sidecarFile, { force: true })]);
  }
}

/** Writes every completed embed result of `lines` to `vectorsFile` and its sidecar (see the module comment). */
export async function exportVectors(
  lines: AsyncIterable<ResultLine> | Iterable<ResultLine>,
  vectorsFile: string,
): Promise<VectorExportSummary> {
  const writer = await VectorWriter.create(vectorsFile);
  try {
    for await (const line of lines) await writer.add(line);
    return await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** JSON.stringify replacer for result lines whose vectors went to a .f32 file: chunks keep offsets and pages. */
export function omitVectors(_key: string, value: unknown): unknown {
  return value instanceof Float32Array ? undefined : value;
}

function writeRow(bytes: Buffer, offset: number, v: ArrayLike<number>): void {
  if (LITTLE_ENDIAN_HOST && v instanceof Float32Array) {
    bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
    return;
  }
  for (let d = 0; d < v.length; d++) bytes.writeFloatLE(v[d]!, offset + d * 4);
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
    written += bytesWritten;
  }
}
