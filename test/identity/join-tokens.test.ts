// Which join tokens agents may register with, followed from the agent-join-token secret as the
// real decider moves it: the seed before the secret exists, then the current version, the previous
// one until the overlap ends (manual clock), never a pending or destroyed one.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AGENT_JOIN_TOKEN, JoinTokens } from "../../src/identity/join-tokens.js";
import { ManualClock } from "../../src/platform/clock.js";
import { Driven, OVERLAP_S, T0, randomToken } from "./secret-driver.js";

const SEED = "seed-join-token-from-the-environment";
const t = suite("join tokens");

async function setup() {
  const d = new Driven(AGENT_JOIN_TOKEN, AGENT_JOIN_TOKEN, randomToken);
  const clock = new ManualClock(T0);
  const tokens = new JoinTokens({ clock, seed: SEED, retryMs: 5 });
  await tokens.start(d.source());
  const text = (version: number) => d.values.get(version)!.toString("utf8");
  /** waits until the loads the last change started are done */
  const settled = () => tokens.settled();
  return { d, clock, tokens, text, settled };
}

t("before the secret exists the seed is accepted; once seeded, its first version is", async () => {
  const { d, clock, tokens, settled } = await setup();
  assert.ok(tokens.accepts(SEED, clock.now()));
  assert.not.ok(tokens.accepts("something-else-entirely", clock.now()));
  d.create({ value: Buffer.from(SEED), publicInfo: {} });
  await settled();
  assert.ok(tokens.accepts(SEED, clock.now()));
  assert.equal(tokens.acceptedVersions(clock.now()), [1]);
  tokens.stop();
});

t("rotation: the pending token is not accepted; after finish old and new are, until the overlap ends", async () => {
  const { d, clock, tokens, text, settled } = await setup();
  d.create();
  const r = d.startRotation();
  await settled();
  assert.ok(tokens.accepts(text(1), clock.now()));
  assert.not.ok(tokens.accepts(text(2), clock.now()), "pending");
  d.finish(r);
  await settled();
  assert.ok(tokens.accepts(text(2), clock.now()));
  assert.ok(tokens.accepts(text(1), clock.now()), "previous within the overlap");
  clock.set(T0 + OVERLAP_S * 1000 - 1);
  assert.ok(tokens.accepts(text(1), clock.now()));
  clock.set(T0 + OVERLAP_S * 1000);
  assert.not.ok(tokens.accepts(text(1), clock.now()), "after the overlap");
  assert.ok(tokens.accepts(text(2), clock.now()));
  assert.not.ok(tokens.accepts(SEED, clock.now()), "the seed means nothing once the secret exists");
  tokens.stop();
});

t("a destroyed previous token is refused at once; near misses are refused", async () => {
  const { d, clock, tokens, text, settled } = await setup();
  d.create();
  d.rotate();
  await settled();
  assert.ok(tokens.accepts(text(1), clock.now()));
  d.run({ type: "DestroyVersion", version: 1, reason: "leaked", now: d.now });
  await settled();
  assert.not.ok(tokens.accepts(text(1), clock.now()));
  const current = text(2);
  for (const near of [current.slice(1), current + "x", current.toUpperCase() === current ? current.toLowerCase() : current.toUpperCase(), "", " " + current]) {
    assert.not.ok(tokens.accepts(near, clock.now()), JSON.stringify(near));
  }
  tokens.stop();
});

t("a value that cannot be read yet is retried", async () => {
  const d = new Driven(AGENT_JOIN_TOKEN, AGENT_JOIN_TOKEN, randomToken);
  let failures = 2;
  const clock = new ManualClock(T0);
  const tokens = new JoinTokens({ clock, seed: SEED, retryMs: 5 });
  d.create();
  await tokens.start({
    directory: d,
    readVersion: async (name: string, version: number) => {
      if (failures-- > 0) throw new Error("backend down");
      return d.readVersion(name, version);
    },
  });
  const text = d.values.get(1)!.toString("utf8");
  for (let i = 0; i < 100 && !tokens.accepts(text, clock.now()); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(tokens.accepts(text, clock.now()));
  tokens.stop();
});

t.run();
