import { describe, expect, it } from 'vitest';
import type { CpuBudget } from '../../src/shared/cpu-budget.js';
import { contextCount } from '../../src/worker/model/model-host.js';

const budget = (cpus: number): CpuBudget => ({
  cpus,
  source: 'os',
  details: { cgroup2: null, cgroup1: null, affinity: null, os: cpus },
});

describe('contextCount', () => {
  it('fills the CPU budget at the tuned thread count', () => {
    expect(contextCount({ device: 'cpu', sequences: 4 }, { threads: 1, budget: budget(2) })).toBe(2);
    expect(contextCount({ device: 'cpu', sequences: 4 }, { threads: 2, budget: budget(2) })).toBe(1);
    expect(contextCount({ device: 'cpu', sequences: 8 }, { threads: 4, budget: budget(16) })).toBe(4);
    // A fractional quota (cpu.max 1.5) never adds a context that would share a core.
    expect(contextCount({ device: 'cpu', sequences: 4 }, { threads: 1, budget: budget(1.5) })).toBe(1);
  });

  it('never makes more contexts than job slots, nor fewer than one', () => {
    expect(contextCount({ device: 'cpu', sequences: 2 }, { threads: 1, budget: budget(64) })).toBe(2);
    expect(contextCount({ device: 'cpu', sequences: 4 }, { threads: 8, budget: budget(2) })).toBe(1);
  });

  it('uses one context on a GPU, and what --contexts says when it says', () => {
    expect(contextCount({ device: 'gpu', sequences: 4 }, { threads: 1, budget: budget(16) })).toBe(1);
    expect(contextCount({ device: 'cpu', sequences: 4, contexts: 3 }, { threads: 1, budget: budget(2) })).toBe(3);
    expect(contextCount({ device: 'cpu', sequences: 2, contexts: 3 }, { threads: 1, budget: budget(2) })).toBe(2);
  });
});
