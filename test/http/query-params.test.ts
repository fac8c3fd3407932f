// validatorQuery splits a query without anything to decode itself (hono's c.req.queries() was most
// of a list request's validation): against the plain definition, what openapiSyncParams built from
// c.req.queries() before, over URLs drawn from the characters where the rules get subtle.
import fc from "fast-check";
import { getQueryParams } from "hono/utils/url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { validatorQuery } from "../../src/http/routes/query-params.js";

const plain = (url: string) => Object.fromEntries(Object.entries(getQueryParams(url) as Record<string, string[]>).map(([k, v]) => (v.length === 1 ? [k, v[0]] : [k, v])));
const same = (a: object, b: object) => JSON.stringify(Object.entries(a)) === JSON.stringify(Object.entries(b)) && Object.getPrototypeOf(a) === Object.getPrototypeOf(b);

const piece = fc.constantFrom("a", "b", "1", "0", "limit", "20", "=", "&", "?", "#", "%", "%41", "%zz", "+", "__proto__", "constructor", "é", "");
const url = fc.tuple(fc.constantFrom("http://127.0.0.1:8080/api/v1/deployments", "http://h/p", "http://h/?"), fc.array(piece, { maxLength: 12 })).map(([base, parts]) => `${base}?${parts.join("")}`);

test("property: validatorQuery is the entries of c.req.queries(), one value bare, in the same order", () => {
  fc.assert(
    fc.property(fc.oneof(url, fc.constantFrom("http://h/p", "http://h/p#x?a=1", "http://h/p?a=1#b=2&c", "http://h/p?a&a=&=1&&b=2")), (u) => {
      const got = validatorQuery(u, () => getQueryParams(u) as Record<string, string[]>);
      const expected = plain(u);
      assert.ok(same(got, expected), `${u}: ${JSON.stringify(Object.entries(got))} vs ${JSON.stringify(Object.entries(expected))}`);
      // a name from the URL never becomes the prototype
      assert.is(Object.getPrototypeOf(got), Object.prototype);
    }),
    { numRuns: 5000 },
  );
});

test("a query with nothing to decode is split without asking hono; one with % or + is hono's", () => {
  let asked = 0;
  const ask = (u: string) => () => (asked++, getQueryParams(u) as Record<string, string[]>);
  const u1 = "http://h/p?limit=20&status=Running&limit=5&__proto__=x";
  assert.equal(JSON.stringify(Object.entries(validatorQuery(u1, ask(u1)))), JSON.stringify([["limit", ["20", "5"]], ["status", "Running"], ["__proto__", "x"]]));
  assert.is(asked, 0);
  const u2 = "http://h/p?moduleName=net%20filter&x=a+b";
  assert.equal(validatorQuery(u2, ask(u2)), { moduleName: "net filter", x: "a b" });
  assert.is(asked, 1);
});

test.run();
