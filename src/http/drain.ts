import type { Server } from "node:http";

/**
 * Stops accepting connections and lets the open ones finish the request they are serving, until
 * `deadline` (epoch ms); whatever is still open then is cut. Returns how many were cut.
 *
 * Event streams and long-polls do not end by themselves: they listen to the shutdown signal, which
 * the caller aborts first. A keep-alive connection goes idle when its response is done and is
 * closed then, so a client's next request goes to another instance rather than to one closing.
 */
export async function drainHttp(server: Server, deadline: number): Promise<{ cut: number }> {
  let open = 0;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()))));
  try {
    if ((await Promise.race([closed, late])) === "late") {
      open = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
      server.closeAllConnections();
      await closed;
    }
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
  return { cut: open };
}

/** Waits for `work` until `deadline` (epoch ms) at the latest; true if it settled by then. */
export async function settledBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([work.then(
      () => true,
      () => true,
    ), late]);
  } finally {
    clearTimeout(timer);
  }
}
