import { describe, expect, it } from 'vitest';
import { tasksAndInputs } from '../../src/producer/command-arguments.js';
import { ConfigError, ExitCode, UserError } from '../../src/shared/errors.js';

describe('submit --task', () => {
  it('takes a comma list, separate words, or both, and begins the inputs at the first word that is no task', () => {
    expect(tasksAndInputs(['summarize,extract'], ['a.pdf'])).toEqual({
      tasks: ['summarize', 'extract'],
      inputs: ['a.pdf'],
    });
    expect(tasksAndInputs(['summarize', 'a.pdf', 'b.txt'], [])).toEqual({
      tasks: ['summarize'],
      inputs: ['a.pdf', 'b.txt'],
    });
    expect(tasksAndInputs(['summarize', 'extract,embed'], ['dir'])).toEqual({
      tasks: ['summarize', 'extract', 'embed'],
      inputs: ['dir'],
    });
    expect(tasksAndInputs(['embed,embed'], ['x']).tasks).toEqual(['embed']);
  });

  it('refuses an unknown first task and a submit without inputs, as usage errors', () => {
    expect(() => tasksAndInputs(['sumarize', 'a.pdf'], [])).toThrow(/"sumarize" is not a task/);
    expect(() => tasksAndInputs(['summarize,nope'], ['a.pdf'])).toThrow(/"summarize,nope" is not a task/);
    try {
      tasksAndInputs(['summarize'], []);
    } catch (err) {
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(ExitCode.usage);
    }
  });
});

describe('exit codes', () => {
  it('are 2 for configuration errors, and a kind of user error can carry its own', () => {
    class Unavailable extends UserError {
      override readonly exitCode = ExitCode.unavailable;
    }
    expect(new ConfigError('x').exitCode).toBe(2);
    expect(new Unavailable('x').exitCode).toBe(3);
    expect(ExitCode).toEqual({ ok: 0, failed: 1, usage: 2, unavailable: 3 });
  });
});
