import { describe, expect, it } from 'vitest';
import { checkParams, TASK_CATALOG, TASKS } from '../../src/shared/tasks/task-catalog.js';
import { TASK_REGISTRY } from '../../src/worker/tasks/task-registry.js';

describe('task catalog', () => {
  it('accepts what submit sets and reads each task its own parameters', () => {
    const params = {
      maxTokens: 64,
      mapReduce: false,
      focus: 'document',
      chunkTokens: 128,
      chunkOverlapTokens: 8,
      model: 'm',
    };
    expect(checkParams('summarize', params)).toEqual({
      ok: true,
      params: { maxTokens: 64, mapReduce: false, focus: 'document', chunkOverlapTokens: 8, model: 'm' },
    });
    expect(checkParams('embed', params)).toEqual({
      ok: true,
      params: { chunkTokens: 128, chunkOverlapTokens: 8, model: 'm' },
    });
    expect(checkParams('extract', { schema: { type: 'object', properties: {} } })).toMatchObject({ ok: true });
  });

  it('names every bad parameter on one line', () => {
    const bad = checkParams('extract', { maxTokens: 1.5, schema: { type: 'array' } });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problem).not.toContain('\n');
    expect(bad.problem).toMatch(/^extract: /);
    expect(bad.problem).toMatch(/params\.schema: the root must be/);
    expect(bad.problem).toMatch(/params\.maxTokens: /);
    expect(checkParams('embed', { chunkOverlapTokens: -1 })).toMatchObject({ ok: false });
    expect(checkParams('summarize', { mapReduce: 'no' })).toMatchObject({ ok: false });
    expect(checkParams('summarize', { focus: 'poem' })).toMatchObject({ ok: false });
  });

  it('has a worker task for every task, with the same role and parameters', () => {
    for (const name of TASKS) {
      const task = TASK_REGISTRY[name];
      expect(task.name).toBe(name);
      expect(task.role).toBe(TASK_CATALOG[name].role);
      expect(task.params).toBe(TASK_CATALOG[name].params);
    }
    expect(Object.keys(TASK_REGISTRY).sort()).toEqual([...TASKS].sort());
  });
});
