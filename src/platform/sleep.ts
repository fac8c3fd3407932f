/**
 * Waiting goes through this, injected, so code that backs off (retries of a failed store call)
 * is tested by a sleep that moves a ManualClock instead of waiting for real.
 * Resolves early, without throwing, when the signal aborts: a stop is not held up by a backoff.
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
