import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { loadDocument } from '../../dist/worker/text/document-loader.js';
import { PdfTextExtractor } from '../../dist/worker/text/pdf-text.js';
import { chunkDocument } from '../../dist/worker/text/token-chunker.js';
import { disturbanceReport, type Context, type Summary } from './bench-context.js';
import { log, markdownTable, settingText, WORKLOAD, writeDocuments } from './common.js';
import { CONTRACTS } from './long-documents.js';
import { peerCase, type PeerCase, type PeerCaseResult } from './peer-rounds.js';
import { buildPeer } from './peer-server.js';
import { modelCacheDir, REAL_MODELS } from '../../dist/shared/model-cache.js';

/**
 * `npm run bench -- peer [--models toy,smollm2,gemma] [--documents short,chunks]`: docfleet against llama.cpp's own llama-server (the
 * peer a platform team would deploy behind a queue) and against the ceiling, on the test model's short
 * documents and, for each real model of the cache, on short documents and on ~3,000-token contract chunks.
 */

/**
 * The real models' runs: a context that holds a contract chunk, fewer documents and rounds (minutes each). As
 * many chunks as docfleet has sequences: one wave with every slot busy, the rate of a long night's batch, where
 * more chunks than slots would add a tail of fewer documents than slots that weighs far more than it does there.
 */
const REAL = { contextSize: 4096, shortDocuments: 16, chunkTokens: 3000, chunks: WORKLOAD.sequences, rounds: 3 };

export async function peer(
  ctx: Context,
  only: string[] | undefined,
  classes: string[] | undefined,
  save: (json: unknown) => Promise<void>,
) {
  const wanted = (name: string) => !only || only.some((o) => name.includes(o));
  const wantedClass = (name: string) => !classes || classes.includes(name);
  const binary = await buildPeer();
  if ('unavailable' in binary) log(`llama-server unavailable: ${binary.unavailable}; the other rows still run`);
  const cases: PeerCase[] = [];
  if (wanted('toy')) {
    cases.push({
      name: `${path.basename(ctx.modelPath)}, short documents`,
      modelPath: ctx.modelPath,
      files: ctx.files,
      contextSize: WORKLOAD.contextSize,
      maxTokens: WORKLOAD.maxTokens,
      rounds: 7,
      timeoutMs: 180_000,
    });
  }
  const skipped: string[] = [];
  // docfleet submits a whole folder: the real models' fewer short documents get one of their own.
  const short = REAL_MODELS.some(wanted) ? await writeDocuments(path.join(ctx.tmp, 'short'), REAL.shortDocuments) : [];
  for (const name of REAL_MODELS.filter(wanted)) {
    const modelPath = path.join(modelCacheDir(), name);
    if (!existsSync(modelPath)) {
      skipped.push(`${name}: not in ${modelCacheDir()}, skipped (scripts/fetch-models.sh fetches it)`);
      continue;
    }
    const common = { modelPath, contextSize: REAL.contextSize, maxTokens: WORKLOAD.maxTokens, rounds: REAL.rounds };
    if (wantedClass('short')) {
      cases.push({ ...common, name: `${name}, short documents`, files: short, timeoutMs: 600_000 });
    }
    if (wantedClass('chunks')) {
      cases.push({
        ...common,
        name: `${name}, contract chunks`,
        files: await contractChunks(modelPath, path.join(ctx.tmp, `chunks-${name}`)),
        timeoutMs: 1_200_000,
      });
    }
  }
  const results: PeerCaseResult[] = [];
  // The case in progress, as far as it got: a real model's case takes long, and a run stopped in it keeps its rounds.
  let running: { name: string; rounds: unknown } | undefined;
  const json = () => ({
    llamaServer: binary,
    cases: results,
    ...(running ? { unfinished: running } : {}),
    skipped,
    disturbance: ctx.disturbances.slice(),
  });
  for (const c of cases) {
    const result = await peerCase(ctx, binary, c, async (rounds) => {
      running = { name: c.name, rounds };
      await save(json());
    });
    running = undefined;
    results.push(result);
    await save(json());
  }
  const text = [...results.map(caseText), ...skipped, disturbanceReport(ctx.disturbances)].join('\n\n');
  return { text, json: json() };
}

/**
 * The first ~3,000-token chunk of each contract of the corpus, as docfleet reads and chunks it (its PDF text
 * extraction and token chunker, with this model's tokenizer), written as text files.
 */
async function contractChunks(modelPath: string, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const extractor = new PdfTextExtractor();
  const files: string[] = [];
  try {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const limits = { maxBytes: 100 * 2 ** 20, maxPages: 5_000, parseTimeoutMs: 120_000, parseMemoryMb: 1024 };
    for (const file of (await readdir(CONTRACTS)).filter((f) => f.endsWith('.pdf')).sort()) {
      if (files.length === REAL.chunks) break;
      const uri = path.join(CONTRACTS, file);
      const { doc } = await loadDocument({ uri, name: file, sha256: '', bytes: 0 }, limits, { extractor });
      const [chunk] = chunkDocument(doc, { maxTokens: REAL.chunkTokens, countTokens: (t) => model.tokenize(t).length });
      // Only contracts long enough to fill a chunk: the class is about long prompts.
      if (!chunk || chunk.tokens < REAL.chunkTokens * 0.8) continue;
      const out = path.join(dir, `${path.basename(file, '.pdf')}.txt`);
      await writeFile(out, chunk.text);
      files.push(out);
    }
  } finally {
    await extractor.close();
    await llama.dispose();
  }
  return files;
}

function caseText(r: PeerCaseResult): string {
  const header = [
    'run',
    'docs/s',
    'prompt tokens/s',
    'generated tokens/s',
    'first token p50 ms',
    'first token p95 ms',
    'job p50 ms',
    'prompt tokens',
    'tokens out',
    'wall s',
    'threads',
  ];
  const row = (name: string, s: Summary) => [
    name,
    s.documentsPerSecond,
    s.promptTokensPerSecond,
    s.tokensPerSecond,
    s.firstTokenMs.p50,
    s.firstTokenMs.p95,
    s.jobLatencyMs.p50,
    s.tokensIn,
    s.tokensOut,
    s.wallSeconds,
    `${settingText(s.settings.contexts ?? 1)} × ${settingText(s.settings.threads)}`,
  ];
  const rows = [
    row('ceiling (node-llama-cpp directly, best layout)', r.typical.ceiling),
    row('docfleet worker (defaults)', r.typical.docfleet),
    ...r.typical.peer.map((p) => row(p.label, p.summary)),
  ];
  const rates = (list: Summary[]) => list.map((s) => s.documentsPerSecond).join(', ');
  return [
    `### ${r.name} (${r.documents} documents, at most ${r.maxTokens} tokens out, context ${r.contextSize} per sequence, ${r.chatTemplate ? 'chat template' : 'plain continuation'}; ${r.seconds} s)`,
    '',
    markdownTable(header, rows),
    '',
    `The median round of each by docs/s; threads are contexts × threads per context. Docs/s by round: ceiling ${rates(r.rounds.ceiling)}; docfleet ${rates(r.rounds.docfleet)}; ${r.rounds.peer.map((p) => `${p.label} ${rates(p.rounds)}`).join('; ') || 'llama-server: none'}.`,
    r.peerUnavailable ? `llama-server rows missing: ${r.peerUnavailable}` : '',
    r.promptMismatches.length > 0
      ? `WARNING: prompts differ: ${r.promptMismatches.join('; ')}`
      : 'Prompts: docfleet evaluated exactly the prompt tokens the ceiling and llama-server were sent.',
    r.threadPass.length > 0
      ? `llama-server thread pass (a third of the documents): ${r.threadPass.map((t) => `-t ${t.threads} ${t.wallSeconds} s`).join(', ')}.`
      : '',
    `docfleet / ceiling (median of per-round ratios): ${r.ratios.docfleetVsCeiling.documentsPerSecond} docs/s, ${r.ratios.docfleetVsCeiling.tokensPerSecond} generated tokens/s`,
    ...r.ratios.docfleetVsPeer.map(
      (p) => `docfleet / ${p.label}: ${p.documentsPerSecond} docs/s, ${p.tokensPerSecond} generated tokens/s`,
    ),
  ]
    .filter((line, i) => i < 4 || line !== '')
    .join('\n');
}
