import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A tiny HTTP proxy that forwards to `target` and, for each new request, cuts the connection
 * after the next byte budget from `cuts` (no budget left: passes everything through). The cut
 * lands wherever the budget ends, often in the middle of an SSE message.
 */
export async function startCuttingProxy(target: string) {
  const cuts: number[] = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const budget = cuts.shift() ?? Infinity;
    const url = new URL(req.url ?? "/", target);
    const upstream = http.request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      res.flushHeaders();
      let sent = 0;
      up.on("data", (chunk: Buffer) => {
        if (sent + chunk.length < budget) {
          sent += chunk.length;
          res.write(chunk);
          return;
        }
        const part = chunk.subarray(0, budget - sent);
        sent = budget;
        up.destroy();
        res.write(part, () => res.socket?.destroy());
      });
      up.on("end", () => res.end());
      up.on("error", () => res.socket?.destroy());
    });
    upstream.on("error", () => res.socket?.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    /** byte budgets for the next requests, one each */
    cutNext(budgets: number[]) {
      cuts.splice(0, cuts.length, ...budgets);
    },
    get requests() {
      return requests;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
