import { describe, expect, it } from 'vitest';
import { jobIdFor, jobIdsFor } from '../../src/shared/job-id.js';
import { queueName, queuesServedBy, roleForTask } from '../../src/shared/queue-layout.js';

describe('job ids', () => {
  const sha = 'a'.repeat(64);
  it('are the same for the same content, task and parameters, whatever the key order', () => {
    expect(jobIdFor(sha, 'extract', { maxTokens: 5, model: 'm' })).toBe(
      jobIdFor(sha, 'extract', { model: 'm', maxTokens: 5 }),
    );
  });
  it('differ by task, parameters and content', () => {
    const ids = new Set([
      jobIdFor(sha, 'extract', {}),
      jobIdFor(sha, 'summarize', {}),
      jobIdFor(sha, 'summarize', { maxTokens: 10 }),
      jobIdFor('b'.repeat(64), 'summarize', {}),
    ]);
    expect(ids.size).toBe(4);
  });
  it('never change from one release to the next: stored results and queued jobs are found by them', () => {
    expect(jobIdFor(sha, 'extract', { maxTokens: 5, model: 'm' })).toBe(
      'extract-64cd5dc034a508b08584b9ca088ca7c43554105b',
    );
    expect(jobIdsFor('summarize', {})('b'.repeat(64))).toBe('summarize-3f133398c47864ff163d623f9e7a753452bfee91');
  });
  it('never contain a colon (BullMQ forbids it)', () => {
    expect(jobIdFor(sha, 'embed', { schema: { a: 'x:y' } })).not.toContain(':');
  });
});

describe('queue layout', () => {
  it('routes by the role of the model a task needs and by tag', () => {
    expect(roleForTask('summarize')).toBe('generate');
    expect(roleForTask('extract')).toBe('generate');
    expect(roleForTask('embed')).toBe('embed');
    expect(queueName('embed', 'gpu')).toBe('docfleet-embed-gpu');
  });
  it('lets a worker serve its own tag and any, never the other tag', () => {
    expect(queuesServedBy('generate', 'cpu')).toEqual(['docfleet-generate-cpu', 'docfleet-generate-any']);
    expect(queuesServedBy('embed', 'gpu')).not.toContain('docfleet-embed-cpu');
  });
});
