// The trust policy as a pure function: which failed checks each level enforces, the "*" fallback,
// no policy = failure, trustedIdentities as x509 subject subsets. Properties over every verdict.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CHECKS, defaultPolicy, enforces, evaluatePolicy, parseIdentity, subjectMatches, TRUST_LEVELS, type Evidence, type PolicyEntry, type PolicyScope } from "../../src/modules/policy.js";

type Outcome = "passed" | "failed" | "skipped";
const verdict = (checks: Partial<Record<(typeof CHECKS)[number], Outcome>>, extra: Partial<Extract<Evidence, { registered: true }>["verification"]> = {}): Evidence => ({
  registered: true,
  verification: {
    status: "verified",
    signer: { subject: "C=DE, O=Example Corp, CN=Module Signer", fingerprint256: "AA", serialNumber: "01", notAfter: "2030-01-01T00:00:00.000Z" },
    chain: [],
    chainFingerprints: [],
    checks: { integrity: "passed", authenticity: "passed", expiry: "passed", revocation: "passed", ...checks },
    reason: null,
    failures: CHECKS.filter((c) => checks[c] === "failed").map((check) => ({ check, code: check === "integrity" ? "digest-mismatch" : check, reason: `${check} broke` })),
    ...extra,
  },
});
const policy = (entries: [PolicyScope, PolicyEntry][]) => new Map(entries);

test("strict enforces every check, permissive integrity and authenticity, skip none", () => {
  const all = verdict({ integrity: "failed", authenticity: "failed", expiry: "failed", revocation: "failed" });
  const enforced = (level: PolicyEntry["level"]) => evaluatePolicy(policy([["Production", { level }]]), "Production", all).enforced.map((f) => f.check);
  assert.equal(enforced("strict"), ["integrity", "authenticity", "expiry", "revocation"]);
  assert.equal(enforced("permissive"), ["integrity", "authenticity"]);
  assert.equal(enforced("audit"), ["integrity"], "a signature that does not match the bytes is refused even at audit");
  assert.equal(enforced("skip"), []);
  const permissive = evaluatePolicy(policy([["Production", { level: "permissive" }]]), "Production", all);
  assert.equal(permissive.logged.map((f) => f.check), ["expiry", "revocation"]);
});

test("audit lets an unsigned or unregistered module through (logged); strict and permissive do not", () => {
  const unsigned = verdict({ integrity: "failed", authenticity: "failed" }, { status: "unsigned", signer: null, failures: [{ check: "integrity", code: "no-signature", reason: "no signature" }] });
  const unregistered: Evidence = { registered: false, name: "ghost", version: "1.0.0" };
  for (const evidence of [unsigned, unregistered]) {
    assert.ok(evaluatePolicy(policy([["*", { level: "audit" }]]), "QA", evidence).allowed);
    assert.not.ok(evaluatePolicy(policy([["*", { level: "permissive" }]]), "QA", evidence).allowed);
    assert.ok(evaluatePolicy(policy([["*", { level: "skip" }]]), "QA", evidence).allowed);
  }
  assert.equal(evaluatePolicy(policy([["*", { level: "strict" }]]), "QA", unregistered).enforced.map((f) => f.check), ["integrity"]);
  assert.equal(evaluatePolicy(policy([["*", { level: "strict" }]]), "QA", unsigned).enforced.map((f) => f.check), ["integrity", "authenticity"]);
});

test("the environment's own entry wins over '*'; with neither, every request fails", () => {
  const p = policy([["Production", { level: "strict" }], ["*", { level: "skip" }]]);
  const expired = verdict({ expiry: "failed" });
  assert.not.ok(evaluatePolicy(p, "Production", expired).allowed);
  assert.ok(evaluatePolicy(p, "QA", expired).allowed);
  const none = evaluatePolicy(policy([["Production", { level: "skip" }]]), "QA", verdict({}));
  assert.not.ok(none.allowed);
  assert.is(none.level, null);
  assert.match(none.enforced[0]!.reason, /no trust policy for QA/);
});

test("defaults: development audits everywhere; production is strict for Staging and Production", () => {
  assert.equal([...defaultPolicy(true)], [["*", { level: "audit" }]]);
  const prod = defaultPolicy(false);
  assert.equal(["Development", "QA", "Staging", "Production"].map((e) => prod.get(e as PolicyScope)?.level), ["permissive", "permissive", "strict", "strict"]);
});

test("trustedIdentities: every attribute named must be in the signer's subject", () => {
  const subject = "C=DE, O=Example Corp, CN=Module Signer";
  assert.ok(subjectMatches(subject, "O=Example Corp"));
  assert.ok(subjectMatches(subject, "x509.subject: C=DE, O=Example Corp"));
  assert.ok(subjectMatches(subject, "o=Example Corp"), "attribute types ignore case");
  assert.not.ok(subjectMatches(subject, "O=Example Corp, OU=Kernel"));
  assert.not.ok(subjectMatches(subject, "O=Example"));
  assert.not.ok(subjectMatches("O=Example Corp\\, Ltd, CN=x", "O=Example Corp"), "an escaped comma is part of the value");
  assert.ok(subjectMatches("O=Example Corp\\, Ltd, CN=x", "O=Example Corp\\, Ltd"));
  assert.is(parseIdentity("no attributes"), null);
  const p = (ids: string[]) => policy([["Production", { level: "strict", trustedIdentities: ids }]]);
  assert.ok(evaluatePolicy(p(["O=Example Corp"]), "Production", verdict({})).allowed);
  assert.ok(evaluatePolicy(p(["*"]), "Production", verdict({})).allowed);
  const other = evaluatePolicy(p(["O=Other Corp"]), "Production", verdict({}));
  assert.equal(other.enforced.map((f) => f.check), ["authenticity"]);
  assert.match(other.enforced[0]!.reason, /none of the trusted identities/);
});

test("property: a level never enforces a check it does not name; allowed iff nothing enforced failed", () => {
  const outcome = fc.constantFrom<Outcome>("passed", "failed", "skipped");
  fc.assert(
    fc.property(fc.constantFrom(...TRUST_LEVELS), outcome, outcome, outcome, outcome, (level, integrity, authenticity, expiry, revocation) => {
      const d = evaluatePolicy(policy([["*", { level }]]), "Staging", verdict({ integrity, authenticity, expiry, revocation }));
      for (const f of d.enforced) assert.ok(enforces(level, f.check), `${level} enforced ${f.check}`);
      assert.is(d.allowed, d.enforced.length === 0);
      const failed = CHECKS.filter((c) => ({ integrity, authenticity, expiry, revocation })[c] === "failed");
      assert.equal([...d.enforced, ...d.logged].map((f) => f.check).sort(), [...failed].sort(), "every failure is either enforced or logged");
    }),
  );
});

test.run();
