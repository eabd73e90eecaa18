import type { Command } from 'commander';

/** Commander's way of letting a flag repeat: each use appends its value. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The flags of where documents may be fetched from, for every command that fetches them. */
export function withUrlAccess(cmd: Command): Command {
  return cmd
    .option(
      '--allow-url-prefix <url>',
      'fetch documents only from URLs under this prefix, redirects included; repeatable (env DOCFLEET_ALLOW_URL_PREFIXES, comma-separated; default: none, no URL is fetched)',
      collect,
    )
    .option(
      '--allow-private-addresses',
      'let URLs lead to loopback and private addresses (env DOCFLEET_ALLOW_PRIVATE_ADDRESSES=true)',
    );
}
