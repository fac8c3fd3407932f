// The audit hash chain is anchored in the event log itself (AuditAnchored events in the stream
// audit-anchors), so it survives a restart: the in-memory read model is rebuilt from the log at
// every start, and an event edited in the SQLite file while the server was stopped is then found
// by verify against the anchors, which were computed from the log as it was before the edit.
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ANCHOR_STREAM, AuditAnchoredSchema } from "../../src/events/catalog/audit.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Verify {
  ok: boolean;
  checked: number;
  firstMismatch: { position: number } | null;
  anchors: { checked: number; anchoredTo: number | null; firstBad: { anchorPosition: number; fromPosition: number; position: number; reason: string } | null };
}

/** anchors only at shutdown or every 5 events here; the interval is out of the way */
const ENV = { AUDIT_ANCHOR_EVERY_EVENTS: "5", AUDIT_ANCHOR_INTERVAL_SECONDS: "3600" };

async function verify(s: TestServer, admin: string, query = ""): Promise<Verify> {
  const res = await s.call(`/api/v1/audit-logs/verify?minPosition=${await s.deps.log.headPosition()}${query}`, { token: admin });
  assert.is(res.status, 200, await res.clone().text());
  return (await res.json()) as Verify;
}

async function anchorsIn(dataDir: string) {
  const store = new SqliteEventStore({ file: join(dataDir, "events.db") });
  try {
    const events = await store.readStream(ANCHOR_STREAM);
    return { events, anchors: events.map((e) => AuditAnchoredSchema.parse(e.data)), all: await store.readAll() };
  } finally {
    await store.close();
  }
}

test("an event edited while the server was stopped is found after a restart, by the anchor over it", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-anchor-"));
  let s = await startTestServer(ENV, { dataDir });
  try {
    let admin = await s.login(...DEMO.admin);
    assert.is((await s.call("/api/v1/users", { method: "POST", token: admin, json: { username: "anchored", password: "correct-horse-1", roles: ["Viewer"] } })).status, 201);
    const changed = await s.call("/api/v1/users/anchored/roles", { method: "PUT", token: admin, json: { roles: ["Deployer"] } });
    assert.is(changed.status, 200);
    await s.stop();

    // a clean restart: the anchors written so far (the last one at shutdown) agree with the log
    s = await startTestServer(ENV, { dataDir });
    admin = await s.login(...DEMO.admin);
    const clean = await verify(s, admin);
    assert.ok(clean.ok, JSON.stringify(clean));
    assert.ok(clean.anchors.checked >= 1, "anchors were checked");
    assert.ok(clean.anchors.anchoredTo !== null);
    await s.stop();

    const { all } = await anchorsIn(dataDir);
    const target = all.find((e) => e.type === "UserRolesChanged")!;
    const db = new Database(join(dataDir, "events.db"));
    try {
      const r = db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ username: "anchored", roles: ["Admin"] }), target.position);
      assert.is(r.changes, 1);
    } finally {
      db.close();
    }

    // the read model is rebuilt from the edited log, so it agrees with it; the anchors do not
    s = await startTestServer(ENV, { dataDir });
    admin = await s.login(...DEMO.admin);
    const bad = await verify(s, admin);
    assert.is(bad.ok, false, JSON.stringify(bad));
    assert.is(bad.firstMismatch, null, "the rebuilt read model matches the edited log");
    const anchor = bad.anchors.firstBad!;
    assert.ok(anchor, "an anchor names the damage");
    assert.ok(anchor.fromPosition <= target.position && target.position <= anchor.position, JSON.stringify({ anchor, target: target.position }));
    assert.is(anchor.reason, "hash");
    // a range that ends before the edited anchor's range still verifies
    const before = await verify(s, admin, `&to=${anchor.fromPosition - 1}`);
    assert.ok(before.ok, JSON.stringify(before));
  } finally {
    await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("while running, every N events are anchored without waiting for the interval", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-anchor-"));
  const s = await startTestServer({ AUDIT_ANCHOR_EVERY_EVENTS: "3", AUDIT_ANCHOR_INTERVAL_SECONDS: "3600" }, { dataDir });
  try {
    const admin = await s.login(...DEMO.admin);
    for (let i = 0; i < 4; i++) await s.login(...DEMO.viewer);
    const deadline = Date.now() + 20_000;
    let page: { items: { type: string; summary: string }[] } = { items: [] };
    while (Date.now() < deadline) {
      page = (await (await s.call("/api/v1/audit-logs?type=AuditAnchored&limit=100", { token: admin })).json()) as typeof page;
      if (page.items.length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(page.items.length >= 2, `anchors appear in the audit log: ${JSON.stringify(page.items)}`);
    assert.match(page.items[0]!.summary, /audit chain anchored/);
    const v = await verify(s, admin);
    assert.ok(v.ok && v.anchors.checked >= 2, JSON.stringify(v));
  } finally {
    await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("two instances on one event log anchor every range once", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-anchor-two-"));
  const a = await startTestServer(ENV, { dataDir });
  const b = await startTestServer(ENV, { dataDir });
  try {
    for (let i = 0; i < 6; i++) await (i % 2 ? a : b).login(...DEMO.viewer);
  } finally {
    // both anchor what is left as they stop, at the same time
    await Promise.all([a.stop(), b.stop()]);
  }
  try {
    const { events, anchors, all } = await anchorsIn(dataDir);
    assert.ok(anchors.length >= 1);
    // contiguous, never overlapping: each starts at the first event after the one before it
    const positions = all.map((e) => e.position);
    for (const [i, anchor] of anchors.entries()) {
      const previous = anchors[i - 1];
      const first = previous ? positions.find((p) => p > previous.position) : positions[0];
      assert.is(anchor.fromPosition, first, `anchor ${i} starts right after the one before`);
      if (previous) assert.is(anchor.previousHash, previous.hash);
      assert.ok(anchor.position < events[i]!.position, "an anchor covers only events before itself");
    }
    // everything but the last anchor event is covered
    const covered = anchors.at(-1)!.position;
    assert.ok(all.filter((e) => e.position > covered).every((e) => e.streamId === ANCHOR_STREAM), "nothing but anchors left uncovered");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
