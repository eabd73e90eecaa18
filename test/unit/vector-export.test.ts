import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResultLine } from '../../src/producer/batch-control.js';
import {
  VectorExportError,
  VectorWriter,
  exportVectors,
  omitVectors,
  sidecarPath,
  type VectorRow,
} from '../../src/producer/vector-export.js';
import type { EmbedOutput, JobData, JobResult, TaskName, TaskOutputPair } from '../../src/shared/job-types.js';

const dir = mkdtempSync(path.join(tmpdir(), 'docfleet-vectors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const nextFile = () => path.join(dir, `export-${files++}.f32`);

function job(name: string, task: TaskName): JobData {
  return { batchId: 'b1', doc: { uri: `/data/${name}`, name, sha256: 'ab'.repeat(32), bytes: 1000 }, task, params: {} };
}

function result(pair: TaskOutputPair): JobResult {
  return {
    model: 'm',
    tokensIn: 1,
    tokensOut: 0,
    pages: 2,
    chars: 100,
    timings: { fetchMs: 0, parseMs: 0, inferMs: 0, totalMs: 0 },
    ...pair,
  };
}

/** A completed embed result line with `chunks` vectors of `dims` values each, derived from `seed`. */
function embedLine(jobId: string, name: string, chunks: number, dims: number, seed: number): ResultLine {
  const output: EmbedOutput = {
    dimensions: dims,
    chunks: Array.from({ length: chunks }, (_, c) => ({
      start: c * 100,
      end: c * 100 + 99,
      page: 1 + (c >> 1),
      pageStart: 1 + (c >> 1),
      // Odd chunks run on to the next page.
      pageEnd: 1 + ((c + 1) >> 1),
      vector: Float32Array.from({ length: dims }, (_, d) => Math.sin(seed * 1000 + c * 31 + d) * (d + 1) * 1e-3),
    })),
  };
  return {
    batch: 'b1',
    jobId,
    status: 'completed',
    job: job(name, 'embed'),
    result: result({ task: 'embed', output }),
    finishedAt: 1,
  };
}

async function* lazily(lines: ResultLine[]): AsyncGenerator<ResultLine> {
  for (const line of lines) {
    await new Promise((r) => setImmediate(r));
    yield line;
  }
}

function readBack(file: string): { matrix: Float32Array; rows: VectorRow[] } {
  const bytes = readFileSync(file);
  // Copy into an aligned buffer, then read as float32 (the file is little-endian, as is every host we run on).
  const matrix = new Float32Array(new Uint8Array(bytes).buffer);
  const rows = readFileSync(sidecarPath(file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as VectorRow);
  return { matrix, rows };
}

const chunksOf = (line: ResultLine) =>
  'result' in line && line.result?.task === 'embed' ? line.result.output.chunks : [];

describe('exportVectors', () => {
  it('writes every chunk of the completed embed results as float32 rows, in order, with a sidecar row per vector', async () => {
    const a = embedLine('job-a', 'a.pdf', 3, 8, 1);
    const b = embedLine('job-b', 'dir/b.txt', 5, 8, 2);
    const lines: ResultLine[] = [
      {
        batch: 'b1',
        jobId: 'job-s',
        status: 'completed',
        job: job('a.pdf', 'summarize'),
        result: result({
          task: 'summarize',
          output: { summary: 'x', truncated: false, coveredChars: 1, sources: [], parts: 0, levels: 0 },
        }),
        finishedAt: 1,
      },
      a,
      {
        batch: 'b1',
        jobId: 'job-f',
        status: 'failed',
        job: job('c.pdf', 'embed'),
        error: { category: 'encrypted', message: 'no', attempts: 1 },
        finishedAt: 1,
      },
      { batch: 'b1', jobId: 'job-w', status: 'waiting', job: job('d.pdf', 'embed') },
      { batch: 'b1', jobId: 'job-m', status: 'missing' },
      embedLine('job-e', 'empty.txt', 0, 8, 3),
      b,
    ];
    const file = nextFile();
    const summary = await exportVectors(lazily(lines), file);
    expect(summary).toEqual({ rows: 8, results: 3, dimensions: 8, vectorsFile: file, sidecarFile: `${file}.jsonl` });

    const { matrix, rows } = readBack(file);
    expect(readFileSync(file).byteLength).toBe(8 * 8 * 4);
    const expected = [...chunksOf(a), ...chunksOf(b)];
    expect(matrix.length).toBe(expected.length * 8);
    expected.forEach((chunk, r) => expect(matrix.subarray(r * 8, r * 8 + 8)).toEqual(chunk.vector));

    expect(rows).toEqual(
      expected.map((chunk, r) => ({
        row: r,
        jobId: r < 3 ? 'job-a' : 'job-b',
        document: r < 3 ? 'a.pdf' : 'dir/b.txt',
        start: chunk.start,
        end: chunk.end,
        page: chunk.page,
        pageStart: chunk.pageStart,
        pageEnd: chunk.pageEnd,
        dimensions: 8,
      })),
    );
    expect(rows.some((row) => row.pageEnd > row.pageStart)).toBe(true);
  });

  it('gives chunks stored before they had a page range their one page as start and end', async () => {
    const line = embedLine('job-old', 'old.pdf', 2, 4, 7);
    for (const c of chunksOf(line)) {
      delete c.pageStart;
      delete c.pageEnd;
    }
    const file = nextFile();
    await exportVectors([line], file);
    const rows = readFileSync(sidecarPath(file), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as VectorRow);
    expect(rows.map((r) => [r.page, r.pageStart, r.pageEnd])).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });

  it('writes little-endian IEEE-754 float32, bit for bit, special values included', async () => {
    const line = embedLine('job-x', 'x.pdf', 1, 6, 0);
    const values = [1.5, -0, Number.POSITIVE_INFINITY, 1e-45, -3.4028234663852886e38, Math.fround(0.1)];
    chunksOf(line)[0]!.vector = Float32Array.from(values);
    const file = nextFile();
    await exportVectors([line], file);
    const bytes = readFileSync(file);
    expect(bytes.byteLength).toBe(24);
    values.forEach((v, d) => expect(Object.is(bytes.readFloatLE(d * 4), Math.fround(v))).toBe(true));
    expect([...bytes.subarray(0, 4)]).toEqual([0x00, 0x00, 0xc0, 0x3f]); // 1.5f, least significant byte first
  });

  it('also takes vectors that are plain number arrays (results read back from JSON)', async () => {
    const line = embedLine('job-j', 'j.pdf', 2, 4, 5);
    const typed = chunksOf(line).map((c) => c.vector);
    for (const c of chunksOf(line)) (c as { vector: unknown }).vector = Array.from(c.vector);
    const file = nextFile();
    await exportVectors([line], file);
    expect(readBack(file).matrix).toEqual(Float32Array.from(typed.flatMap((v) => [...v])));
  });

  it('streams a large batch one result at a time', async () => {
    const file = nextFile();
    const docs = 300;
    // eslint-disable-next-line @typescript-eslint/require-await -- an async source, as batchResults() is
    async function* many(): AsyncGenerator<ResultLine> {
      for (let i = 0; i < docs; i++) yield embedLine(`job-${i}`, `doc-${i}.pdf`, 1 + (i % 7), 64, i);
    }
    const summary = await exportVectors(many(), file);
    const rows = Array.from({ length: docs }, (_, i) => 1 + (i % 7)).reduce((s, n) => s + n, 0);
    expect(summary.rows).toBe(rows);
    const { matrix, rows: meta } = readBack(file);
    expect(matrix.length).toBe(rows * 64);
    expect(meta).toHaveLength(rows);
    // Spot-check the last document's last row.
    const last = embedLine(`job-${docs - 1}`, '', 1 + ((docs - 1) % 7), 64, docs - 1);
    const lastChunks = chunksOf(last);
    expect(matrix.subarray((rows - 1) * 64)).toEqual(lastChunks[lastChunks.length - 1]!.vector);
    expect(meta[rows - 1]).toMatchObject({ row: rows - 1, jobId: `job-${docs - 1}`, document: `doc-${docs - 1}.pdf` });
  });

  it('refuses mixed dimensions with a clear error and leaves no partial files', async () => {
    const file = nextFile();
    const lines = [embedLine('job-a', 'a.pdf', 2, 8, 1), embedLine('job-b', 'b.pdf', 2, 16, 2)];
    const err = await exportVectors(lazily(lines), file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorExportError);
    expect((err as Error).message).toMatch(/job-b \(b\.pdf\) has 16-dimension embeddings but earlier rows have 8/);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(sidecarPath(file))).toBe(false);
  });

  it('refuses a vector whose length is not the result’s dimensions', async () => {
    const line = embedLine('job-a', 'a.pdf', 2, 8, 1);
    chunksOf(line)[1]!.vector = new Float32Array(7);
    const file = nextFile();
    await expect(exportVectors([line], file)).rejects.toThrow(/chunk 1 has 7 values, expected 8/);
    expect(existsSync(file)).toBe(false);
  });

  it('writes empty files when the batch has no embeddings', async () => {
    const file = nextFile();
    const summary = await exportVectors(lazily([{ batch: 'b1', jobId: 'j', status: 'active' }]), file);
    expect(summary).toMatchObject({ rows: 0, results: 0, dimensions: undefined });
    expect(readFileSync(file).byteLength).toBe(0);
    expect(readFileSync(sidecarPath(file), 'utf8')).toBe('');
  });

  it('VectorWriter counts rows per result and rejects use after close', async () => {
    const writer = await VectorWriter.create(nextFile());
    expect(await writer.add(embedLine('j1', 'a', 3, 4, 1))).toBe(3);
    expect(await writer.add({ batch: 'b1', jobId: 'j2', status: 'delayed' })).toBe(0);
    expect((await writer.close()).rows).toBe(3);
    await expect(writer.add(embedLine('j3', 'c', 1, 4, 1))).rejects.toThrow(/after close/);
  });
});

describe('omitVectors', () => {
  it('leaves the vectors out of a JSON result line and keeps everything else', () => {
    const line = embedLine('job-a', 'a.pdf', 2, 4, 1);
    const parsed = JSON.parse(JSON.stringify(line, omitVectors)) as { result: { output: EmbedOutput }; job: JobData };
    expect(parsed.result.output).toEqual({
      dimensions: 4,
      chunks: [
        { start: 0, end: 99, page: 1, pageStart: 1, pageEnd: 1 },
        { start: 100, end: 199, page: 1, pageStart: 1, pageEnd: 2 },
      ],
    });
    expect(parsed.job.doc.name).toBe('a.pdf');
  });
});
