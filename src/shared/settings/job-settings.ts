import { integer, positive, setting } from './setting.js';

/** Limits and retention that producers and workers must agree on. */
export const jobSettings = {
  maxDocumentMb: setting(
    '--max-document-mb',
    'n',
    'DOCFLEET_MAX_DOCUMENT_MB',
    positive().default(50),
    'Largest document accepted, MiB: submit refuses larger inputs, workers larger documents.',
  ),
  resultTtlDays: setting(
    '--result-ttl-days',
    'n',
    'DOCFLEET_RESULT_TTL_DAYS',
    positive().default(30),
    'How long results and batch records are kept after they are written, days.',
  ),
  attempts: setting(
    '--attempts',
    'n',
    'DOCFLEET_ATTEMPTS',
    integer(1, 100).default(3),
    'Attempts per job before a transient failure is final; fixed per job when it is enqueued.',
  ),
};
