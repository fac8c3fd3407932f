// A small stand-in for Vault/OpenBao KV version 2 over HTTP: the subset the Vault backend uses
// (write with cas, read a version, metadata current_version, delete metadata, sys/health), with
// Vault's status codes and error texts, so the adapter's HTTP handling runs in CI. The contract
// suite against a real server (VAULT_ADDR) is the authority; this only keeps the adapter honest
// where no server can be installed.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

interface Entry {
  versions: Map<number, { data: Record<string, unknown>; destroyed: boolean }>;
  current: number;
}

export interface FakeVault {
  address: string;
  token: string;
  /** requests seen, "METHOD path" */
  requests: string[];
  /** the stored KV paths (for assertions) */
  paths(): string[];
  /**
   * The next request matching method and path prefix is held unanswered (its client sees a step
   * in flight) until release(); resolves when it arrives.
   */
  hold(method: string, pathPrefix: string): { arrived: Promise<void>; release(): void };
  close(): Promise<void>;
}

export async function startFakeVault(mount = "secret"): Promise<FakeVault> {
  const token = "fake-root-token";
  const kv = new Map<string, Entry>();
  const requests: string[] = [];
  const holds: { method: string; prefix: string; arrive: () => void; released: Promise<void> }[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(`${req.method} ${url.pathname}`);
    const held = holds.findIndex((h) => h.method === req.method && url.pathname.startsWith(h.prefix));
    if (held >= 0) {
      const [h] = holds.splice(held, 1);
      h!.arrive();
      // the request goes on only once released; its client may have died by then
      void h!.released.then(() => server.emit("request", req, res));
      return;
    }
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(body === undefined ? "" : JSON.stringify(body));
    };
    if (url.pathname === "/v1/sys/health") return send(200, { initialized: true, sealed: false });
    if (req.headers["x-vault-token"] !== token) return send(403, { errors: ["permission denied"] });
    const prefix = `/v1/${mount}/`;
    if (!url.pathname.startsWith(prefix)) return send(404, { errors: [] });
    const rest = url.pathname.slice(prefix.length);
    const [area, ...pathParts] = rest.split("/");
    const path = pathParts.join("/");
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const entry = kv.get(path);
      if (area === "data" && req.method === "POST") {
        const body = JSON.parse(raw || "{}") as { options?: { cas?: number }; data?: Record<string, unknown> };
        const cas = body.options?.cas;
        const current = entry?.current ?? 0;
        if (cas !== undefined && cas !== current) return send(400, { errors: ["check-and-set parameter did not match the current version"] });
        const e = entry ?? { versions: new Map(), current: 0 };
        e.current += 1;
        e.versions.set(e.current, { data: body.data ?? {}, destroyed: false });
        kv.set(path, e);
        return send(200, { data: { version: e.current, destroyed: false, deletion_time: "" } });
      }
      if (area === "data" && req.method === "GET") {
        const version = Number(url.searchParams.get("version") ?? entry?.current ?? 0);
        const v = entry?.versions.get(version);
        if (!entry || !v) return send(404, { errors: [] });
        if (v.destroyed) return send(404, { data: { data: null, metadata: { version, destroyed: true, deletion_time: "" } } });
        return send(200, { data: { data: v.data, metadata: { version, destroyed: false, deletion_time: "" } } });
      }
      if (area === "metadata" && req.method === "GET") {
        if (!entry) return send(404, { errors: [] });
        return send(200, { data: { current_version: entry.current } });
      }
      if (area === "metadata" && req.method === "DELETE") {
        kv.delete(path);
        return send(204);
      }
      return send(405, { errors: ["unsupported by the fake"] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    token,
    requests,
    paths: () => [...kv.keys()],
    hold(method, pathPrefix) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ method, prefix: pathPrefix, arrive, released });
      return { arrived, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
