/**
 * URL of the compiled JavaScript of `sibling` (e.g. `pdf-text-thread.js`), a module next to `fromUrl`.
 *
 * worker_threads run plain JavaScript, so a thread's entry must be the compiled file. In production the caller
 * already runs from dist/ and its sibling is right there; under vitest the caller runs from its TypeScript
 * source in src/, so the sibling is taken from the same place under dist/ (which the test setup builds).
 */
export function compiledSibling(fromUrl: string, sibling: string): URL {
  const url = new URL(sibling, fromUrl);
  if (!fromUrl.endsWith('.ts')) return url;
  const at = url.pathname.lastIndexOf('/src/');
  if (at < 0) throw new Error(`cannot map ${fromUrl} to its compiled file: it is not under a src/ directory`);
  url.pathname = `${url.pathname.slice(0, at)}/dist/${url.pathname.slice(at + '/src/'.length)}`;
  return url;
}
