// Which JWT keys count and what the JWKS lists, derived from the jwt-signing-key secret's state as
// the real secret decider moves it: rotations, a second rotation within the overlap, rollback,
// destroy. Pure: no server, no clock but the one passed in.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { keyCounts, kidFor, nextExpiryMs, publishedKeys, versionOfKid } from "../../src/identity/key-set.js";
import { Driven, OVERLAP_S, T0, material } from "./secret-driver.js";

const t = suite("JWT key set");

t("kids name versions; anything else names no version", () => {
  assert.is(kidFor(3), "jwt-signing-key@3");
  assert.is(versionOfKid("jwt-signing-key@3"), 3);
  for (const bad of ["jwt-signing-key@0", "jwt-signing-key@03", "jwt-signing-key@", "k1", "jwt-signing-key@3 ", "other@3", "jwt-signing-key@1e3", "__proto__"]) {
    assert.is(versionOfKid(bad), null, bad);
  }
});

t("created: one current key, published, counting; managed since creation", () => {
  const d = new Driven().create();
  assert.equal(d.kids(), ["jwt-signing-key@1"]);
  assert.ok(keyCounts(d.keys, 1, d.now));
  assert.not.ok(keyCounts(d.keys, 2, d.now));
  assert.is(d.keys.managedSinceMs, T0);
  assert.is(d.keys.overlapSeconds, OVERLAP_S);
  const published = publishedKeys(d.keys, d.now)[0]!;
  assert.equal(Object.keys(published).sort(), ["alg", "crv", "kid", "kty", "use", "x"]);
  assert.is(published.alg, "EdDSA");
});

t("a rotation lists the next key before the current one; after finish the old one stays for the overlap, then leaves", () => {
  const d = new Driven().create();
  d.now += 1000;
  const r = d.startRotation();
  assert.equal(d.kids(), ["jwt-signing-key@2", "jwt-signing-key@1"], "next first, before it signs");
  assert.ok(keyCounts(d.keys, 2, d.now), "a pending key verifies: another instance may have finished already");
  d.now += 2000;
  d.finish(r);
  const finishedAt = d.now;
  assert.equal(d.kids(), ["jwt-signing-key@2", "jwt-signing-key@1"]);
  assert.is(d.keys.current, 2);
  assert.is(nextExpiryMs(d.keys, d.now), finishedAt + OVERLAP_S * 1000);
  d.now = finishedAt + OVERLAP_S * 1000 - 1;
  assert.ok(keyCounts(d.keys, 1, d.now));
  d.now = finishedAt + OVERLAP_S * 1000;
  assert.not.ok(keyCounts(d.keys, 1, d.now));
  assert.equal(d.kids(), ["jwt-signing-key@2"]);
  assert.is(nextExpiryMs(d.keys, d.now), null);
  assert.is(d.keys.managedSinceMs, T0, "managed since the first key, not the last rotation");
});

t("two rotations within one overlap: the key before last keeps its own window", () => {
  const d = new Driven().create();
  d.rotate();
  const firstFinish = d.now;
  d.now += 60_000;
  d.rotate();
  assert.equal(d.kids(), ["jwt-signing-key@3", "jwt-signing-key@2", "jwt-signing-key@1"]);
  d.now = firstFinish + OVERLAP_S * 1000;
  assert.equal(d.kids(), ["jwt-signing-key@3", "jwt-signing-key@2"]);
});

t("destroying a retired key ends it at once; a rolled-back rotation's key never counted after", () => {
  const d = new Driven().create();
  d.rotate();
  d.run({ type: "DestroyVersion", version: 1, reason: "compromised", now: d.now });
  assert.not.ok(keyCounts(d.keys, 1, d.now));
  assert.equal(d.kids(), ["jwt-signing-key@2"]);

  const r = d.startRotation();
  assert.equal(d.kids(), ["jwt-signing-key@3", "jwt-signing-key@2"]);
  d.run({ type: "Rollback", reason: "changed my mind", now: d.now });
  assert.not.ok(keyCounts(d.keys, 3, d.now));
  assert.equal(d.kids(), ["jwt-signing-key@2"]);
  void r;
});

t("rollback to the previous key: it is current again, the rolled-back one is previous for the overlap", () => {
  const d = new Driven().create();
  d.rotate();
  d.now += 10_000;
  d.run({ type: "Rollback", reason: "bad key", now: d.now });
  assert.is(d.keys.current, 1);
  assert.equal(d.kids(), ["jwt-signing-key@1", "jwt-signing-key@2"]);
  d.now += OVERLAP_S * 1000;
  assert.equal(d.kids(), ["jwt-signing-key@1"]);
});

t("a version without a readable public key is left out, never thrown on", () => {
  const d = new Driven().create();
  const rotationId = "odd";
  d.run({ type: "RequestRotation", rotationId, reason: "x", scheduled: false, requestedBy: "admin", now: d.now });
  d.run({ type: "CompleteCreateStep", rotationId, added: { version: 2, material, publicInfo: { kty: "RSA", n: "x" } }, now: d.now });
  assert.equal(d.kids(), ["jwt-signing-key@1"]);
  assert.not.ok(keyCounts(d.keys, 2, d.now));
});

t("property: for any rotate/rollback/destroy/time sequence, the current key counts and is listed, the pending one is listed first, and a destroyed key never counts", () => {
  type Step = { op: "rotate" } | { op: "start" } | { op: "rollback" } | { op: "destroy"; pick: number } | { op: "wait"; ms: number };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.constant<Step>({ op: "rotate" }),
    fc.constant<Step>({ op: "start" }),
    fc.constant<Step>({ op: "rollback" }),
    fc.nat(20).map((pick): Step => ({ op: "destroy", pick })),
    fc.integer({ min: 0, max: 2 * OVERLAP_S * 1000 }).map((ms): Step => ({ op: "wait", ms })),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
      const d = new Driven().create();
      const destroyed = new Set<number>();
      for (const s of steps) {
        try {
          if (s.op === "rotate") {
            if (d.secret.activeRotationId) d.finish(d.secret.activeRotationId);
            else d.rotate();
          } else if (s.op === "start") {
            if (!d.secret.activeRotationId) d.startRotation();
          } else if (s.op === "rollback") d.run({ type: "Rollback", reason: "p", now: d.now });
          else if (s.op === "destroy") {
            const v = d.secret.versions[s.pick % d.secret.versions.length]!.version;
            d.run({ type: "DestroyVersion", version: v, reason: "p", now: d.now });
          } else d.now += s.ms;
        } catch {
          // a refused command (409 at the edge) changes nothing
        }
        for (const v of d.secret.versions) if (v.destroyed) destroyed.add(v.version);
        const kids = d.kids();
        const { current, pending } = d.secret.labels;
        assert.ok(current !== null && keyCounts(d.keys, current, d.now));
        assert.ok(kids.includes(kidFor(current!)));
        if (pending !== null) assert.is(kids[0], kidFor(pending));
        for (const v of destroyed) assert.not.ok(keyCounts(d.keys, v, d.now), `destroyed ${v} counts`);
        assert.is(new Set(kids).size, kids.length, "no kid twice");
        for (const kid of kids) assert.ok(keyCounts(d.keys, versionOfKid(kid)!, d.now));
      }
    }),
    { numRuns: 200 },
  );
});

t.run();
