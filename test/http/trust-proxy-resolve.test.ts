// Properties of the pure address resolution behind clientIp: whatever a client writes into
// X-Forwarded-For, the answer is the socket peer or a plain address a trusted hop vouched for.
import { isIP } from "node:net";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseTrustProxy, plainAddress, resolveClientAddress, UNKNOWN_ADDRESS } from "../../src/http/trust-proxy.js";

const ipv4 = fc.ipV4();
const address = fc.oneof(ipv4, fc.ipV6());
/** headers as clients write them: addresses, junk, markup, ports, zone ids, empty hops */
const hop = fc.oneof(address, fc.string({ maxLength: 40 }), fc.constant("<script>"), ipv4.map((a) => `${a}:443`), fc.constant("fe80::1%eth0"), fc.constant(""));
const header = fc.array(hop, { maxLength: 40 }).map((hops) => hops.join(", "));
const trust = fc.oneof(
  fc.constant(parseTrustProxy(undefined)),
  fc.integer({ min: 1, max: 5 }).map((n) => parseTrustProxy(String(n))),
  fc.constant(parseTrustProxy("127.0.0.0/8,10.0.0.0/8,::1/128")),
);

test("the answer is the peer or a plain address from the header, never longer than an IPv6 address", () => {
  fc.assert(
    fc.property(address, fc.option(header, { nil: undefined }), trust, (peer, xff, t) => {
      const got = resolveClientAddress(peer, xff, t);
      assert.ok(isIP(got) !== 0, got);
      assert.ok(got.length <= 45);
      const fromHeader = (xff ?? "").split(",").some((h) => plainAddress(h) === got);
      assert.ok(got === plainAddress(peer) || fromHeader, `${got} from ${peer} / ${xff}`);
      if (t.kind === "none") assert.is(got, plainAddress(peer));
    }),
  );
});

test("an untrusted peer's header is never read", () => {
  const t = parseTrustProxy("10.0.0.0/8");
  fc.assert(fc.property(header, (xff) => assert.is(resolveClientAddress("198.51.100.1", xff, t), "198.51.100.1")));
});

test("IPv4-mapped peers are plain IPv4; no socket is unknown", () => {
  assert.is(resolveClientAddress("::ffff:127.0.0.1", "198.51.100.9", parseTrustProxy("127.0.0.1")), "198.51.100.9");
  assert.is(resolveClientAddress("::FFFF:192.0.2.1", undefined, parseTrustProxy(undefined)), "192.0.2.1");
  assert.is(resolveClientAddress(undefined, "198.51.100.9", parseTrustProxy("1")), UNKNOWN_ADDRESS);
});

test.run();
