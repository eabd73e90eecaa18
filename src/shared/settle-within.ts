/**
 * Waits for `promise` at most `ms`; true if it settled (resolved or rejected) in time. For shutdown steps that
 * talk to Redis: while Redis is unreachable they would wait for it forever, and a stopping process must not.
 */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
