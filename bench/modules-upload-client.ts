// The upload client of bench/modules.bench.ts, in its own process so that its multipart encoding
// does not share the server's event loop (whose stalls the bench measures). Takes
// {url, token, name, version, path, certificates?} over IPC, answers {status, verdict, ms}.
import { openAsBlob } from "node:fs";
import { performance } from "node:perf_hooks";

interface Job {
  id: number;
  url: string;
  token: string;
  name: string;
  version: string;
  path: string;
  certificates?: string;
}

process.on("message", (job: Job) => {
  void (async () => {
    const t0 = performance.now();
    try {
      const f = new FormData();
      f.set("name", job.name);
      f.set("version", job.version);
      // streamed from disk, as korch modules push does
      f.set("artifact", await openAsBlob(job.path), "bench.ko");
      if (job.certificates) f.set("certificates", job.certificates);
      const res = await fetch(`${job.url}/api/v1/modules`, { method: "POST", headers: { authorization: `Bearer ${job.token}` }, body: f });
      const body = (await res.json()) as { verification?: { status: string } };
      process.send!({ id: job.id, status: res.status, verdict: body.verification?.status ?? JSON.stringify(body), ms: performance.now() - t0 });
    } catch (err) {
      process.send!({ id: job.id, status: 0, verdict: String(err), ms: performance.now() - t0 });
    }
  })();
});
process.on("disconnect", () => process.exit(0));
