// Kills a writer process with SIGKILL in the middle of a burst of appends and checks what the
// SQLite file holds afterwards: every acknowledged append, no half batch, no gap.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";

const writer = fileURLToPath(new URL("./crash-writer.ts", import.meta.url));
const groupWriter = fileURLToPath(new URL("./group-crash-writer.ts", import.meta.url));

interface Intent {
  intent: string[];
  stream: string;
}
interface Ack {
  ack: string[];
  stream: string;
  position: number;
  nextRevision: number;
}

/** Every acknowledged append is in the log, at the positions and revisions its answer gave. */
function assertAcknowledged(byId: Map<string, RecordedEvent>, acked: Ack[]): void {
  for (const a of acked) {
    a.ack.forEach((id, k) => {
      const e = byId.get(id);
      assert.ok(e, `acknowledged event ${id} is missing`);
      assert.is(e.streamId, a.stream);
      assert.is(e.position, a.position - (a.ack.length - 1) + k);
      assert.is(e.revision, a.nextRevision - (a.ack.length - 1) + k);
    });
  }
}

/** Runs the writer until it has acknowledged `acks` more appends, then SIGKILLs it. */
function runAndKill(file: string, acks: number, script = writer, args: string[] = []): Promise<{ intents: Intent[]; acked: Ack[]; messages: unknown[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, file, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const intents: Intent[] = [];
    const acked: Ack[] = [];
    const messages: unknown[] = [];
    let buffered = "";
    let stderr = "";
    let killed = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer did not reach ${acks} acks in time: ${stderr}`));
    }, 30_000);
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!; // a line cut by the kill is not an acknowledgement
      for (const line of lines) {
        const msg = JSON.parse(line) as Partial<Intent & Ack>;
        messages.push(msg);
        if (msg.intent) intents.push(msg as Intent);
        if (msg.ack) acked.push(msg as Ack);
      }
      if (!killed && acked.length >= acks) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL" && killed) resolve({ intents, acked, messages });
      else reject(new Error(`writer exited by itself (${code ?? signal}): ${stderr}`));
    });
  });
}

test("SIGKILL mid-burst loses no acknowledged append and leaves no partial batch or gap", async () => {
  const dir = mkdtempSync(join(tmpdir(), "crash-safety-"));
  const file = join(dir, "events.db");
  try {
    const intents: Intent[] = [];
    const acked: Ack[] = [];
    // three writer lives on the same file, each killed at a different point of its burst
    for (const n of [150, 233, 311]) {
      const run = await runAndKill(file, n);
      intents.push(...run.intents);
      acked.push(...run.acked);

      const store = new SqliteEventStore({ file });
      const events = await store.readAll();
      const byId = new Map(events.map((e) => [e.metadata.eventId, e]));

      assertAcknowledged(byId, acked);
      const intended = new Set(intents.flatMap((i) => i.intent));
      for (const e of events) assert.ok(intended.has(e.metadata.eventId), "only events the writer meant to write");
      for (const i of intents) {
        const present = i.intent.filter((id) => byId.has(id)).length;
        assert.ok(present === 0 || present === i.intent.length, `batch partly present: ${present} of ${i.intent.length}`);
      }
      assert.equal(
        events.map((e) => e.position),
        events.map((_, k) => k + 1),
        "positions 1..N without gap",
      );
      const perStream = new Map<string, number[]>();
      for (const e of events) perStream.set(e.streamId, [...(perStream.get(e.streamId) ?? []), e.revision]);
      for (const [stream, revs] of perStream) {
        assert.equal(
          revs,
          revs.map((_, k) => k),
          `revisions of ${stream} contiguous from 0`,
        );
      }
      await store.close();
      const db = new Database(file, { readonly: true });
      assert.is((db.pragma("integrity_check", { simple: true }) as string), "ok");
      db.close();
    }
    assert.ok(acked.length >= 150 + 233 + 311);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface Round {
  round: number;
  intents: { stream: string; ids: string[] }[];
  stale: string;
}

// inline is how the server commits; the writer thread is opt-in
for (const mode of ["inline", "thread"] as const) test(`SIGKILL during group commits (${mode}): each group is on disk whole or not at all, no acknowledged append lost`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "crash-safety-group-"));
  const file = join(dir, "events.db");
  try {
    const rounds: Round[] = [];
    const acked: Ack[] = [];
    for (const n of [170, 301, 437]) {
      const run = await runAndKill(file, n, groupWriter, [mode]);
      acked.push(...run.acked);
      for (const line of run.messages as Partial<Round & { staleAccepted: boolean }>[]) {
        assert.not.ok(line.staleAccepted, "an append with a stale revision was accepted");
        if (line.intents) rounds.push(line as Round);
      }

      const store = new SqliteEventStore({ file });
      const events = await store.readAll();
      const byId = new Map(events.map((e) => [e.metadata.eventId, e]));
      assertAcknowledged(byId, acked);
      let partialRounds = 0;
      for (const r of rounds) {
        assert.not.ok(byId.has(r.stale), "the refused append's event is not in the log");
        const present = r.intents.map((i) => i.ids.filter((id) => byId.has(id)).length);
        r.intents.forEach((i, k) => assert.ok(present[k] === 0 || present[k] === i.ids.length, `append partly present: ${present[k]} of ${i.ids.length}`));
        // a round is one group commit: one transaction, so all of it or none of it
        const whole = present.filter((c, k) => c === r.intents[k]!.ids.length).length;
        if (whole !== 0 && whole !== r.intents.length) partialRounds++;
      }
      assert.is(partialRounds, 0, "a group commit that is only partly on disk");
      assert.is(events.length, rounds.filter((r) => byId.has(r.intents[0]!.ids[0]!)).reduce((n, r) => n + r.intents.reduce((m, i) => m + i.ids.length, 0), 0), "only the rounds' events");
      assert.equal(
        events.map((e) => e.position),
        events.map((_, k) => k + 1),
        "positions 1..N without gap",
      );
      await store.close();
      const db = new Database(file, { readonly: true });
      assert.is(db.pragma("integrity_check", { simple: true }) as string, "ok");
      db.close();
    }
    assert.ok(acked.length >= 170 + 301 + 437);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
