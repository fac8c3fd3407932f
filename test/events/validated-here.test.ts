// The log does not validate again, on read, the events it appended and validated itself moments
// before (src/events/event-log.ts, validatedHere). That is sound only while the catalog's schemas
// only check data (no defaults, transforms, coercion): then a read-back copy validated again could
// only come out the same. These tests hold both halves of that bargain.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { defineEvent } from "../../src/events/catalog/define.js";
import { buildCatalog, catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { newEvent } from "../contracts/event-store.js";

/** zod kinds that change data rather than only check it, and coercing primitives */
const CHANGING = new Set(["transform", "pipe", "default", "prefault", "catch", "codec", "success", "preprocess"]);

function changingParts(schema: unknown, path: string, out: string[], seen = new Set<unknown>()): string[] {
  const zod = (schema as { _zod?: { def?: Record<string, unknown> } } | null)?._zod;
  if (!zod?.def || seen.has(schema)) return out;
  seen.add(schema);
  const def = zod.def;
  if (typeof def.type === "string" && CHANGING.has(def.type)) out.push(`${path}: ${def.type}`);
  if (def.coerce) out.push(`${path}: coerce`);
  for (const [key, value] of Object.entries(def)) {
    if (key === "checks") continue;
    if (Array.isArray(value)) value.forEach((v, i) => changingParts(v, `${path}.${key}[${i}]`, out, seen));
    else if (key === "shape" && value && typeof value === "object") for (const [k, v] of Object.entries(value)) changingParts(v, `${path}.${k}`, out, seen);
    else changingParts(value, `${path}.${key}`, out, seen);
  }
  return out;
}

const test = suite<{ dir: string; store: SqliteEventStore }>("EventLog: events validated here");
test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "validated-here-"));
  ctx.store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL" });
});
test.after.each(async (ctx) => {
  await ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

test("every catalog schema only checks its data (else reads of events appended here must be validated again)", () => {
  const found: string[] = [];
  for (const def of catalog.values()) changingParts(def.schema, def.type, found);
  assert.equal(found, []);
  // the walk does find what it looks for
  assert.equal(changingParts(z.object({ a: z.string().default("x"), b: z.coerce.number() }), "T", []), ["T.a: default", "T.b: coerce"]);
});

test("an event appended here reads back as a log that never appended it reads it", async ({ store }) => {
  const cat = buildCatalog([defineEvent("Thing", z.object({ n: z.number(), tags: z.array(z.string()), note: z.string().optional(), at: z.iso.datetime() }))]);
  const writer = new EventLog(store, cat);
  const other = new EventLog(store, cat);
  await writer.append("s", [newEvent("Thing", { n: 1, tags: ["a"], at: "2026-01-01T00:00:00Z" }), newEvent("Thing", { n: 2, tags: [], note: "x", at: "2026-01-01T00:00:00Z", extra: 1 })], "no_stream");
  const mine = await writer.readStream("s");
  assert.equal(mine, await other.readStream("s"));
  assert.equal(await writer.readAll(), await other.readAll());
  // what the schema strips on append never reached the log
  assert.not.ok("extra" in (mine[1]!.data as object));
});

test("an event this log did not append is validated on read", async ({ store }) => {
  const cat = buildCatalog([defineEvent("Thing", z.object({ n: z.number() }))]);
  const log = new EventLog(store, cat);
  // written around the log, as another process or an older version might have
  await store.append("s", [newEvent("Thing", { n: "not a number" })], "no_stream");
  const error = await log.readStream("s").then(() => undefined, (err: unknown) => err);
  assert.match(String(error), /invalid Thing event on read/);
});

test.run();
