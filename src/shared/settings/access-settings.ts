import { z } from 'zod';
import { list, setting, switchedOn } from './setting.js';

/** Where documents may be fetched from: workers fetch them, `submit` too (it hashes them). */
export const urlAccessSettings = {
  allowUrlPrefixes: setting(
    '--allow-url-prefix',
    'url',
    'DOCFLEET_ALLOW_URL_PREFIXES',
    list(/[\s,]+/, z.string().regex(/^https?:\/\/[^/]/i, { error: 'expected http(s) URLs' })).default([]),
    'Fetch documents only from URLs under this prefix, redirects included; repeatable, the variable comma-separated. None: no URL is fetched.',
    { repeatable: true },
  ),
  allowPrivateAddresses: setting(
    '--allow-private-addresses',
    '',
    'DOCFLEET_ALLOW_PRIVATE_ADDRESSES',
    switchedOn().default(false),
    'Let fetched URLs lead to loopback, private and link-local addresses.',
  ),
};

/** Where a worker may read documents from. */
export const accessSettings = {
  documentsRoots: setting(
    '--documents-root',
    'dir',
    'DOCUMENTS_ROOTS',
    list(/[,:]/, z.string().min(1)).default([]),
    'Read only files under this directory, symbolic links resolved; repeatable, the variable comma- or colon-separated. None: no local file is read.',
    { repeatable: true },
  ),
  ...urlAccessSettings,
};
