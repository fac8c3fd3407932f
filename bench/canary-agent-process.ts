// The canary bench's agent in a process of its own (forked by pipeline.bench.ts), so the bench
// process's CPU is the server's and its one watcher's: it follows the deployment's SSE feed as a
// user's client does, and calls the agent API over keep-alive sockets. It receives one RemoteAgentJob
// over IPC, answers "ready" once the feed is open, and one RemoteAgentResult at the terminal event.
import { Agent, request } from "node:http";
import { createParser } from "eventsource-parser";
import { CanaryAgent, type Call } from "./canary-agent.js";

export interface RemoteAgentJob {
  url: string;
  executionId: string;
  /** a user's token, to read the deployment's feed */
  watchToken: string;
  tokens: [nodeId: string, token: string][];
  concurrency: number;
  moduleName: string;
  version: string;
  metrics: Record<string, number>;
}

export type RemoteAgentMessage = { ready: true } | { status: string; events: number; lastType: string; cpuS: number } | { error: string };

const send = (m: RemoteAgentMessage) => process.send!(m);

async function run(job: RemoteAgentJob): Promise<void> {
  const sockets = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const call: Call = (method, path, body, token, want) =>
    new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = {};
      if (text !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
      if (token) headers.authorization = `Bearer ${token}`;
      const req = request(`${job.url}${path}`, { method, headers, agent: sockets }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const answer = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== want) reject(new Error(`${method} ${path}: ${res.statusCode} ${answer.slice(0, 300)}`));
          else resolve(JSON.parse(answer) as Record<string, unknown>);
        });
      });
      req.on("error", reject);
      req.end(text);
    });
  const agent = new CanaryAgent({ streamId: `deployment-${job.executionId}`, tokens: new Map(job.tokens), call, concurrency: job.concurrency, moduleName: job.moduleName, version: job.version, metrics: job.metrics });

  const res = await fetch(`${job.url}/api/v1/deployments/${job.executionId}/events`, { headers: { authorization: `Bearer ${job.watchToken}` } });
  if (res.status !== 200) throw new Error(`the deployment's feed answered ${res.status}`);
  send({ ready: true });
  const cpuStarted = process.cpuUsage();
  const parser = createParser({
    onEvent: (m) => {
      if (m.event === "end") return;
      const e = JSON.parse(m.data) as { type: string; streamId: string; position: number; data: unknown };
      agent.onEvent(e);
    },
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const ended = agent.finished.then(() => null);
  while (!agent.status) {
    const chunk = await Promise.race([reader.read(), ended]);
    if (chunk === null || chunk.done) break;
    parser.feed(chunk.value);
  }
  await reader.cancel().catch(() => {});
  await agent.stop();
  const cpu = process.cpuUsage(cpuStarted);
  sockets.destroy();
  send({ status: agent.status || "the feed ended first", events: agent.events, lastType: agent.lastType, cpuS: (cpu.user + cpu.system) / 1e6 });
}

process.once("message", (job: RemoteAgentJob) => {
  run(job)
    .catch((err: unknown) => send({ error: String(err) }))
    .finally(() => process.disconnect());
});
