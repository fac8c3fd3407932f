#!/usr/bin/env node
// korch: the command-line face of the orchestrator API. Exit codes: 0 ok (watch: Succeeded),
// 1 the deployment ended Failed/RolledBack/Rejected/Cancelled, 2 usage, 3 API or network error.
import { openAsBlob, readFileSync } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { OrchestratorClient } from "./api.js";
import { credentialsPath, readCredentials, writeCredentials } from "./credentials.js";
import { ApiError } from "./errors.js";
import type { SecretDetailView } from "./types.js";
import { clustersText, deploymentText, eventLine, headline, watchBlock } from "./render.js";
import { impactText, matrixText, queryText } from "./graph-render.js";
import type { DeploymentQuery, DeploymentRequest, DeploymentView, Environment, GraphPattern, TrustPolicyBody } from "./types.js";

const USAGE = `usage: korch <command> [options]

  login [username] [--password P]        log in (password also from KORCH_PASSWORD or stdin)
  deploy <module> <version> --env E [--strategy S] [--email E] [--description D] [--idempotency-key K] [--watch]
  status <id> [--at ISO-time]            one deployment
  list [--env E] [--status S] [--limit N] deployments, newest first
  watch <id>                             live progress until the deployment ends
  approvals                              pending approvals
  approve <id> [--reason R]              (Admin)
  reject <id> --reason R                 (Admin)
  rollback <id> [--reason R] | pause <id> | resume <id> | abort <id> [--reason R]
  clusters [environment]                 clusters, or one cluster's nodes
  secrets list | secrets show <name>     versions, labels, policy, rotation times; never values (Admin)
  secrets rotate <name> [--reason R] [--wait]   start a rotation; --wait follows it (exit 1 if rolled back)
  secrets rollback <name> [--reason R]   abandon a rotation in progress, or make the previous version current
  modules push <name> <version> <file.ko> [--certificates PEM] [--signature SIG] [--dependencies JSON] [--description D]
  modules list | modules show <name> [version]
  trust add-root <ca.pem> | trust roots | trust revoke <fingerprint256> --reason R | trust revocations   (Admin)
  trust policy [--set JSON|@file.json]   the per-environment trust policy, or replace it (Admin)
  graph impact <module> [version|range]  where it runs, deployments in flight, dependents, signers
  graph matrix [--module M] [--env E]    what runs where: module x environment -> versions
  graph query <JSON|@file.json>          a JSON pattern (docs/graph.md)
  graph export [--around Type:id] [--depth N] [--graphml]   the graph, or a neighbourhood
                 every graph command takes --at ISO-time: the graph as of then

  --server URL   (or KORCH_SERVER, or the stored login; default http://localhost:3000)
  --json         one JSON object per line, for scripts
  credentials: $KORCH_CONFIG or ~/.config/korch/credentials.json (mode 0600); KORCH_TOKEN overrides`;

class UsageError extends Error {}

const ENVIRONMENTS = ["Development", "QA", "Staging", "Production"];
const FAILED = new Set(["Failed", "RolledBack", "Rejected", "Cancelled"]);

const { values: opts, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        server: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        password: { type: "string" },
        env: { type: "string" },
        strategy: { type: "string" },
        email: { type: "string" },
        description: { type: "string" },
        "idempotency-key": { type: "string" },
        watch: { type: "boolean", default: false },
        wait: { type: "boolean", default: false },
        reason: { type: "string" },
        at: { type: "string" },
        status: { type: "string" },
        limit: { type: "string" },
        signature: { type: "string" },
        certificates: { type: "string" },
        dependencies: { type: "string" },
        set: { type: "string" },
        module: { type: "string" },
        around: { type: "string" },
        depth: { type: "string" },
        graphml: { type: "boolean", default: false },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
})();

const configPath = credentialsPath();
const stored = readCredentials(configPath);
const server = opts.server ?? process.env.KORCH_SERVER ?? stored?.server ?? "http://localhost:3000";
const client = new OrchestratorClient({ baseUrl: server, token: process.env.KORCH_TOKEN || stored?.token });
const tty = process.stdout.isTTY === true && !opts.json;

function print(value: unknown, text: () => string) {
  console.log(opts.json ? JSON.stringify(value) : text());
}

function arg(index: number, name: string): string {
  const value = positionals[index];
  if (!value) throw new UsageError(`missing <${name}>`);
  return value;
}

function environment(value: string | undefined): Environment {
  if (!value || !ENVIRONMENTS.includes(value)) throw new UsageError(`--env must be one of ${ENVIRONMENTS.join(", ")}`);
  return value as Environment;
}

async function readPassword(): Promise<string> {
  if (opts.password) return opts.password;
  if (process.env.KORCH_PASSWORD) return process.env.KORCH_PASSWORD;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  if (process.stdin.isTTY) process.stderr.write("password: ");
  // keep the typed password off the screen: readline echoes through _writeToOutput
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  const line = await new Promise<string>((resolve) => rl.once("line", resolve).once("close", () => resolve("")));
  rl.close();
  if (process.stdin.isTTY) process.stderr.write("\n");
  return line;
}

/** Follows a deployment's feed to its end; returns the exit code its final status calls for. */
async function watch(id: string): Promise<number> {
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  // the block shows counts, not nodes: one node a page is enough
  let view: DeploymentView = await client.getDeployment(id, { limit: 1 });
  const recent: string[] = [];
  let drawn = 0;
  const draw = () => {
    const lines = watchBlock(view, recent);
    // move up over the previous block and clear it, then draw the new one
    process.stdout.write((drawn ? `\x1b[${drawn}F\x1b[J` : "") + lines.join("\n") + "\n");
    drawn = lines.length;
  };
  if (tty) draw();
  else if (!opts.json) console.log(headline(view));
  const feed = client.deploymentEvents(id, {
    signal: stop.signal,
    onReconnect: ({ delayMs, error }) => {
      if (!opts.json) process.stderr.write(`connection lost (${String((error as Error)?.message ?? error)}); reconnecting in ${delayMs} ms\n`);
    },
  });
  for await (const event of feed) {
    if (opts.json) console.log(JSON.stringify(event));
    else if (!tty) console.log(eventLine(event));
    else {
      recent.push(eventLine(event));
      if (recent.length > 5) recent.shift();
      view = await client.getDeployment(id, { minPosition: event.id, limit: 1 });
      draw();
    }
  }
  if (stop.signal.aborted) return 130;
  view = await client.getDeployment(id, { minPosition: feed.lastEventId, limit: 1 });
  if (tty) draw();
  print({ executionId: id, status: view.status, final: true, failureReason: view.failureReason }, () => `${view.status}${view.failureReason ? `: ${view.failureReason}` : ""}`);
  return view.status === "Succeeded" ? 0 : FAILED.has(view.status) ? 1 : 3;
}

function jsonArgument(text: string, what: string): unknown {
  const raw = text.startsWith("@") ? readFileSync(text.slice(1), "utf8") : text;
  try {
    return JSON.parse(raw);
  } catch {
    throw new UsageError(`${what} is not JSON`);
  }
}

async function modulesCommand(sub: string): Promise<number> {
  switch (sub) {
    case "push": {
      const [name, version, file] = [arg(2, "name"), arg(3, "version"), arg(4, "file.ko")];
      const result = await client.pushModule({
        name,
        version,
        // streamed from disk by fetch, not read into memory first
        artifact: await openAsBlob(file),
        filename: basename(file),
        ...(opts.signature && { signature: new Uint8Array(readFileSync(opts.signature)) }),
        ...(opts.certificates && { certificates: readFileSync(opts.certificates, "utf8") }),
        ...(opts.dependencies && { dependencies: jsonArgument(opts.dependencies, "--dependencies") as { name: string; range: string }[] }),
        ...(opts.description && { description: opts.description }),
      });
      const v = result.verification;
      print(result, () => `${result.name}@${result.version} ${result.digest} (${result.size} bytes): ${v.status}${v.reason ? ` - ${v.reason}` : ""}`);
      return 0;
    }
    case "list": {
      const { items } = await client.listModules();
      if (opts.json) for (const m of items) console.log(JSON.stringify(m));
      else for (const m of items) console.log(`${m.name}  ${m.latest.version}  ${m.latest.status}  (${m.versions} version${m.versions === 1 ? "" : "s"})`);
      return 0;
    }
    case "show": {
      const name = arg(2, "name");
      if (positionals[3]) {
        const v = await client.getModuleVersion(name, positionals[3]);
        print(v, () =>
          [
            `${v.name}@${v.version}  ${v.digest}  ${v.size} bytes  signature: ${v.signature}`,
            `verification: ${v.verification.status}${v.verification.reason ? ` - ${v.verification.reason}` : ""}`,
            `checks: ${Object.entries(v.verification.checks).map(([k, o]) => `${k} ${o}`).join(", ")}`,
            ...(v.verification.signer ? [`signer: ${v.verification.signer.subject} (${v.verification.signer.fingerprint256})`] : []),
            `running on: ${v.runningOn.length ? v.runningOn.map((n) => `${n.nodeId} (${n.environment})`).join(", ") : "no node"}`,
          ].join("\n"),
        );
        return 0;
      }
      const m = await client.getModule(name);
      print(m, () => m.versions.map((v) => `${m.name}@${v.version}  ${v.status}  ${v.digest}  ${v.registeredAt}`).join("\n"));
      return 0;
    }
    default:
      throw new UsageError(`unknown modules command ${sub}`);
  }
}

async function trustCommand(sub: string): Promise<number> {
  switch (sub) {
    case "add-root": {
      const r = await client.addTrustRoot(readFileSync(arg(2, "ca.pem"), "utf8"));
      print(r, () => `trusted ${r.subject} (${r.fingerprint256}); ${r.reverified.length} verdict(s) changed`);
      return 0;
    }
    case "roots": {
      const { items } = await client.trustRoots();
      if (opts.json) for (const r of items) console.log(JSON.stringify(r));
      else for (const r of items) console.log(`${r.fingerprint256}  ${r.subject}  until ${r.notAfter}`);
      return 0;
    }
    case "revoke": {
      if (!opts.reason) throw new UsageError("trust revoke needs --reason");
      const r = await client.revokeCertificate(arg(2, "fingerprint256"), opts.reason);
      print(r, () => `revoked ${r.fingerprint256}; ${r.reverified.map((c) => `${c.name}@${c.version} ${c.from} -> ${c.to}`).join(", ") || "no verdict changed"}`);
      return 0;
    }
    case "revocations": {
      const { items } = await client.revocations();
      if (opts.json) for (const r of items) console.log(JSON.stringify(r));
      else for (const r of items) console.log(`${r.fingerprint256}  ${r.revokedAt}  ${r.reason}`);
      return 0;
    }
    case "policy": {
      const policy = opts.set ? await client.setTrustPolicy(jsonArgument(opts.set, "--set") as TrustPolicyBody) : await client.trustPolicy();
      print(policy, () => JSON.stringify(policy, null, 2));
      return 0;
    }
    default:
      throw new UsageError(`unknown trust command ${sub}`);
  }
}

function secretText(s: SecretDetailView): string {
  const versions = s.versions.map((v) => `  v${v.version}  ${v.labels.join(",") || "-"}  created ${v.createdAt}${v.expiresAt ? `  expires ${v.expiresAt}` : ""}${v.destroyed ? "  destroyed" : ""}`);
  const p = s.policy;
  return [
    `${s.name} (${s.kind})  ${s.status}  current v${s.currentVersion ?? "-"}`,
    `policy: every ${p.intervalDays ?? "-"} day(s), overlap ${p.overlapSeconds} s, expires after ${p.expiresAfterDays ?? "-"} day(s), warn ${p.notifyBeforeDays ?? "-"} day(s) before, keep ${p.maxVersions}`,
    `last rotated ${s.lastRotatedAt ?? "-"}, next ${s.nextRotationAt ?? "-"}${s.previousValidUntil ? `, previous valid until ${s.previousValidUntil}` : ""}`,
    ...(s.rotation ? [`rotation ${s.rotation.rotationId} in progress: ${s.rotation.steps.map((x) => x.step).join(" -> ") || "requested"}${s.rotation.waitingUntil ? ` (waiting until ${s.rotation.waitingUntil.dueAt})` : ""}`] : []),
    ...(s.failing ? [`ROTATION FAILING since ${s.failing.at}: ${s.failing.reason}`] : []),
    ...versions,
  ].join("\n");
}

async function secretsCommand(sub: string): Promise<number> {
  switch (sub) {
    case "list": {
      const { items } = await client.listSecrets();
      if (opts.json) for (const s of items) console.log(JSON.stringify(s));
      else for (const s of items) console.log(`${s.name}  ${s.kind}  ${s.status}  v${s.currentVersion ?? "-"}  rotated ${s.lastRotatedAt ?? "-"}  next ${s.nextRotationAt ?? "-"}${s.expiresAt ? `  expires ${s.expiresAt}` : ""}`);
      return 0;
    }
    case "show": {
      const s = await client.getSecret(arg(2, "name"));
      print(s, () => secretText(s));
      return 0;
    }
    case "rotate": {
      const name = arg(2, "name");
      const accepted = await client.rotateSecret(name, opts.reason ? { reason: opts.reason } : {}, { idempotencyKey: opts["idempotency-key"] });
      if (!opts.wait) {
        print(accepted, () => `rotation ${accepted.rotationId} of ${name} started`);
        return 0;
      }
      for (;;) {
        const r = await client.getRotation(name, accepted.rotationId);
        if (r.status !== "InProgress") {
          print(r, () => `rotation ${r.rotationId} of ${name}: ${r.outcome ?? r.status}${r.version ? ` (version ${r.version})` : ""}`);
          return r.status === "Completed" ? 0 : 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    case "rollback": {
      const s = await client.rollbackSecret(arg(2, "name"), opts.reason ? { reason: opts.reason } : {});
      print(s, () => secretText(s));
      return 0;
    }
    default:
      throw new UsageError(`unknown secrets command ${sub}`);
  }
}

async function graphCommand(sub: string): Promise<number> {
  const at = opts.at;
  switch (sub) {
    case "impact": {
      const answer = await client.graphImpact(arg(2, "module"), { version: positionals[3], at });
      print(answer, () => impactText(answer));
      return 0;
    }
    case "matrix": {
      const answer = await client.graphMatrix({ module: opts.module, environment: opts.env ? environment(opts.env) : undefined, at });
      print(answer, () => matrixText(answer));
      return 0;
    }
    case "query": {
      // unchecked here: the server validates the pattern and names the bad field
      const answer = await client.graphQuery(jsonArgument(arg(2, "JSON|@file.json"), "the pattern") as GraphPattern, { at });
      print(answer, () => queryText(answer));
      return 0;
    }
    case "export": {
      const options = { around: opts.around, depth: opts.depth ? Number(opts.depth) : undefined, at };
      // GraphML is a file for another tool: written as is, --json or not
      if (opts.graphml) process.stdout.write(await client.graphExportGraphML(options));
      else console.log(JSON.stringify(await client.graphExport(options), null, opts.json ? undefined : 2));
      return 0;
    }
    default:
      throw new UsageError(`unknown graph command ${sub}`);
  }
}

async function main(): Promise<number> {
  const [command] = positionals;
  if (opts.help || !command) {
    console.log(USAGE);
    return command || opts.help ? 0 : 2;
  }
  const id = () => arg(1, "id");
  const accepted = (r: { executionId: string; status: string }) => `${r.executionId} ${r.status}`;
  switch (command) {
    case "login": {
      const username = positionals[1] ?? process.env.KORCH_USERNAME;
      if (!username) throw new UsageError("missing [username] (or KORCH_USERNAME)");
      const result = await client.login(username, await readPassword());
      writeCredentials(configPath, { server, token: result.token, username, expiresAt: result.expiresAt });
      print({ server, username, roles: result.user.roles, expiresAt: result.expiresAt, credentials: configPath }, () => `logged in to ${server} as ${username} (${result.user.roles.join(", ")}) until ${result.expiresAt}`);
      return 0;
    }
    case "deploy": {
      const email = opts.email ?? process.env.KORCH_EMAIL;
      if (!email) throw new UsageError("--email (or KORCH_EMAIL) is required: the requester's address");
      const request: DeploymentRequest = {
        moduleName: arg(1, "module"),
        version: arg(2, "version"),
        targetEnvironment: environment(opts.env),
        requesterEmail: email,
        ...(opts.strategy ? { strategy: opts.strategy as DeploymentRequest["strategy"] } : {}),
        ...(opts.description ? { description: opts.description } : {}),
      };
      const result = await client.requestDeployment(request, { idempotencyKey: opts["idempotency-key"] });
      print(result, () => accepted(result));
      return opts.watch ? watch(result.executionId) : 0;
    }
    case "status": {
      // the text needs the counts only; JSON carries every node, a page holding some of them
      const query: DeploymentQuery = { ...(opts.at && { at: opts.at }), ...(opts.json && { limit: 1000 }) };
      const view: DeploymentView = await client.getDeployment(id(), query);
      if (opts.json) {
        const nodes = [...view.nodes];
        if (view.nodesNextCursor) for await (const n of client.deploymentNodes(id(), { ...query, cursor: view.nodesNextCursor })) nodes.push(n);
        console.log(JSON.stringify({ ...view, nodes, nodesNextCursor: null }));
      } else console.log(deploymentText(view));
      return 0;
    }
    case "list": {
      const page = await client.listDeployments({
        environment: opts.env ? environment(opts.env) : undefined,
        status: opts.status as DeploymentView["status"] | undefined,
        limit: opts.limit ? Number(opts.limit) : undefined,
      });
      if (opts.json) for (const item of page.items) console.log(JSON.stringify(item));
      else for (const d of page.items) console.log(`${d.executionId}  ${d.createdAt ?? ""}  ${headline(d)}`);
      return 0;
    }
    case "watch":
      return watch(id());
    case "approvals": {
      const pending = await client.pendingApprovals();
      if (opts.json) for (const a of pending) console.log(JSON.stringify(a));
      else for (const a of pending) console.log(`${a.executionId}  ${a.moduleName} ${a.version} -> ${a.targetEnvironment}  by ${a.requestedBy}  expires ${a.expiresAt}`);
      return 0;
    }
    case "approve":
    case "reject": {
      if (command === "reject" && !opts.reason) throw new UsageError("reject needs --reason");
      const result = command === "approve" ? await client.approve(id(), opts.reason) : await client.reject(id(), opts.reason!);
      print(result, () => `${result.executionId} approval ${result.approval}, deployment ${result.status}`);
      return 0;
    }
    case "rollback":
    case "abort": {
      const result = await client[command](id(), opts.reason);
      print(result, () => accepted(result));
      return 0;
    }
    case "pause":
    case "resume": {
      const result = await client[command](id());
      print(result, () => accepted(result));
      return 0;
    }
    case "secrets":
      return secretsCommand(arg(1, "list|show|rotate|rollback"));
    case "clusters": {
      if (positionals[1]) {
        const env = environment(positionals[1]);
        const first = await client.cluster(env, { at: opts.at });
        // every node: the answer holds one page of them
        const nodes = [...first.nodes];
        for (let cursor = first.nextCursor; cursor; ) {
          const page = await client.cluster(env, { at: opts.at, cursor });
          nodes.push(...page.nodes);
          cursor = page.nextCursor;
        }
        const detail = { ...first, nodes, nextCursor: null };
        print(detail, () => JSON.stringify(detail, null, 2));
        return 0;
      }
      const clusters = await client.clusters();
      if (opts.json) for (const c of clusters) console.log(JSON.stringify(c));
      else console.log(clustersText(clusters));
      return 0;
    }
    case "modules":
      return modulesCommand(arg(1, "push|list|show"));
    case "trust":
      return trustCommand(arg(1, "add-root|roots|revoke|revocations|policy"));
    case "graph":
      return graphCommand(arg(1, "impact|matrix|query|export"));
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (opts.json) console.log(JSON.stringify({ error: err instanceof ApiError ? err.problem : { title: String(err) } }));
    if (err instanceof ApiError) console.error(`korch: ${err.message}${err.status === 401 ? " (run korch login)" : ""}`);
    else console.error(`korch: ${(err as Error)?.message ?? String(err)} (server ${server})`);
    process.exit(3);
  },
);
