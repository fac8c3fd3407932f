// One command on a stream with a long history: the event a successful login appends
// (RecordLoginSuccess -> UserLoggedIn) on a user who has logged in BENCH_COMMAND_HISTORY times
// before (default 10,000; a service account logging in every five minutes has that in five weeks).
// Measured both ways in the same run, alternating: with the state the handler kept for the stream
// (what the service does) and folded from the whole stream (the same decider without `cacheable`,
// which is what every command did before). The password check of a real login is left out: it is
// the same scrypt either way and would hide what the stream costs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { handleCommand, type CommandContext } from "../src/commands/handler.js";
import { userDecider } from "../src/commands/user.js";
import { catalog } from "../src/events/catalog/index.js";
import { EventLog } from "../src/events/event-log.js";
import { SqliteEventStore } from "../src/events/store/sqlite.js";
import { emit } from "./emit.js";
import { sized } from "./quick.js";

const HISTORY = sized("BENCH_COMMAND_HISTORY", 10_000, 2_000);
const COMMANDS = sized("BENCH_COMMANDS", 50, 20);
const ROUNDS = 3;

const dir = mkdtempSync(join(tmpdir(), "bench-commands-"));
const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
const log = new EventLog(store, catalog);
const ctx = (): CommandContext => ({ actor: { kind: "user", id: "svc" }, correlationId: "bench", now: Date.now() });
const folded = { ...userDecider, cacheable: undefined };

try {
  const username = "svc";
  await handleCommand(log, `user-${username}`, userDecider, { type: "CreateUser", username, roles: ["Viewer"], passwordHash: "x" }, ctx());
  // the history, written in large appends (a command each would take minutes)
  for (let n = 0; n < HISTORY; ) {
    const batch = Math.min(1_000, HISTORY - n);
    const head = (await log.readStream(`user-${username}`, { direction: "backwards", maxCount: 1 }))[0]!;
    const events = log.envelope(
      Array.from({ length: batch }, () => ({ type: "UserLoggedIn", data: { username } })),
      () => ({ actor: { kind: "user", id: username }, correlationId: "history", causationId: "history" }),
    );
    await log.append(`user-${username}`, events, head.revision);
    n += batch;
  }

  const times = { kept: [] as number[], folded: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [way, decider] of [
      ["kept", userDecider],
      ["folded", folded],
    ] as const) {
      const started = performance.now();
      for (let i = 0; i < COMMANDS; i++) await handleCommand(log, `user-${username}`, decider, { type: "RecordLoginSuccess" }, ctx());
      times[way].push(((performance.now() - started) * 1000) / COMMANDS);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const conditions = { history: HISTORY, commandsPerRound: COMMANDS, rounds: ROUNDS, command: "RecordLoginSuccess (the event a login appends)", eventStore: "sqlite NORMAL", figure: "median of rounds" };
  emit("commands.long_stream.kept_state", median(times.kept), "µs/command", conditions);
  emit("commands.long_stream.whole_stream", median(times.folded), "µs/command", { ...conditions, note: "the same decider without cacheable: what every command cost before" });
  emit("commands.long_stream.ratio", median(times.folded) / median(times.kept), "x", { ...conditions, note: "whole-stream time over kept-state time, same run" });
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
