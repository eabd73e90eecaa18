import { settingGroups } from './all-settings.js';
import { defaultText, type Setting } from './setting.js';

/** Variables read where they are used, not settings of a command. */
const ENVIRONMENT_ONLY: [name: string, meaning: string][] = [
  ['LOG_FORMAT', '`json` or `pretty` log lines; unset, pretty on a terminal and JSON otherwise.'],
  [
    'XDG_CACHE_HOME',
    'Where a worker keeps its tuned thread counts (`$XDG_CACHE_HOME/docfleet`, else `~/.cache/docfleet`).',
  ],
  [
    'DOCFLEET_CACHE_DIR',
    '`scripts/fetch-models.sh`, `npm run demo` and `npm run bench -- quality`: the models are in its `models/` folder (else `~/.cache/docfleet/models`).',
  ],
];

const cell = (text: string) => text.replace(/\|/g, '\\|');

function row(s: Setting): string {
  const value = defaultText(s);
  const shown = value === undefined ? '—' : `\`${value}\``;
  const flag = s.arg === '' ? s.flag : `${s.flag} <${s.arg}>`;
  return `| \`${cell(flag)}\` | \`${s.env}\` | ${shown} | ${cell(s.description)} |`;
}

/** docs/configuration.md, as `npm run docs` writes it and a unit test expects it. */
export function configurationReference(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/shared/settings/ by `npm run docs`: change the settings there, not this file. -->',
    '',
    'Every setting has a flag and an environment variable. The flag wins over the variable, and the variable over the',
    'default; an empty variable counts as not set. A bad value stops the command at start with one line that names',
    'the flag (and the variable, when the value came from it), and exit code 2. `docfleet <command> --help` lists the',
    'same settings with their variables and defaults.',
  ];
  for (const group of settingGroups) {
    lines.push('', `## ${group.title}`, '', `Taken by ${group.commands}.`, '');
    lines.push('| flag | environment variable | default | meaning |', '| --- | --- | --- | --- |');
    lines.push(...Object.values(group.settings).map(row));
  }
  lines.push('', '## Environment only', '', '| environment variable | meaning |', '| --- | --- |');
  lines.push(...ENVIRONMENT_ONLY.map(([name, meaning]) => `| \`${name}\` | ${cell(meaning)} |`));
  return `${lines.join('\n')}\n`;
}
