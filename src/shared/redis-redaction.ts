/** What a secret is replaced with wherever it could be shown. */
export const REDACTED = '***';

/** The URL as it may be shown in logs and messages: any password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = REDACTED;
    return parsed.toString();
  } catch {
    // Not a URL after all: show nothing of it that could be a secret.
    return url.replace(/\/\/[^@/]*@/, `//${REDACTED}@`);
  }
}

/** Commands whose arguments carry credentials. */
const CREDENTIAL_COMMANDS = new Set(['auth', 'hello']);

interface CommandInfo {
  name?: unknown;
  args?: unknown;
}

/**
 * Strips credentials from an error ioredis made: it attaches the failed command, arguments included, so a
 * refused `HELLO 3 AUTH default <password>` would carry the password into every log line and message that
 * serialises the error. Also replaces any of `secrets` in the message and stack. Changes `err` in place (the
 * same object is handed to every listener and every rejected command) and returns it.
 */
export function redactRedisError<T>(err: T, secrets: readonly string[] = []): T {
  if (!(err instanceof Error)) return err;
  const withCommand = err as Error & { command?: CommandInfo };
  const command = withCommand.command;
  if (command && typeof command.name === 'string' && Array.isArray(command.args)) {
    const args = command.args as unknown[];
    const hidden = CREDENTIAL_COMMANDS.has(command.name.toLowerCase())
      ? args.map(() => REDACTED)
      : args.map((a) => (typeof a === 'string' && secrets.includes(a) ? REDACTED : a));
    // A new object: the old args array is the command's own, which ioredis may still use.
    withCommand.command = { name: command.name, args: hidden };
  }
  for (const secret of secrets) {
    if (!secret) continue;
    err.message = err.message.split(secret).join(REDACTED);
    if (err.stack) err.stack = err.stack.split(secret).join(REDACTED);
  }
  return err;
}
