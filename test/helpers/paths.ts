import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED = process.env.DOCFLEET_SHARED_DIR ?? path.resolve(ROOT, '../shared');
/** The real model every model-dependent test uses; override with TEST_MODEL_PATH. */
export const TEST_MODEL = process.env.TEST_MODEL_PATH ?? path.join(SHARED, 'models/stories260K.gguf');
export const CONTRACTS = path.join(SHARED, 'corpus/contracts');
export const PDFJS = path.join(SHARED, 'corpus/pdfjs');
export const CLI = path.join(ROOT, 'dist/cli.js');
