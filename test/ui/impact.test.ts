// The module blast-radius page (/ui/modules/{name}/impact) over plain HTTP: a Viewer opens it,
// the headings and the "Version" and "As of" controls are there, empty states are said in words,
// and the module name from the URL is escaped.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer }>("dashboard blast radius over HTTP");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
});
t.after(async (ctx) => ctx.s.stop());

async function cookieOf(s: TestServer, username: string, password: string): Promise<string> {
  const res = await fetch(`${s.url}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: s.url },
    body: new URLSearchParams({ username, password, next: "/ui/matrix" }).toString(),
  });
  assert.is(res.status, 303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

t("a Viewer opens the blast radius of a module the graph does not know: headings, controls, empty states, escaped", async ({ s }) => {
  const cookie = await cookieOf(s, ...DEMO.viewer);
  const res = await fetch(`${s.url}/ui/modules/${encodeURIComponent("<b>nope")}/impact?version=${encodeURIComponent("^1.0.0")}`, { headers: { cookie } });
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-security-policy")!, /script-src/);
  const page = await res.text();
  assert.match(page, /<h1>Blast radius of &lt;b&gt;nope<\/h1>/);
  assert.not.match(page, /<b>nope/);
  for (const h of ["Where it runs", "In-flight deployments", "Dependent modules", "Signing certificates"]) assert.match(page, new RegExp(`<h2[^>]*>${h}</h2>`));
  assert.match(page, /<label for="impact-version">Version<\/label>/);
  assert.match(page, /value="\^1\.0\.0"/);
  assert.match(page, /<label for="as-of">As of<\/label>/);
  assert.match(page, /The knowledge graph has no module named &lt;b&gt;nope\./);
  assert.match(page, /No node runs a matching version\./);
  assert.match(page, /No deployment of a matching version is in flight\./);
  assert.not.match(page, /<script>|style="/, "no inline scripts or styles");

  // a version that is neither a version nor a range is said in words
  const bad = await fetch(`${s.url}/ui/modules/netfilter/impact?version=not-a-range!`, { headers: { cookie } });
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /neither a semantic version nor a range/);
});

t.run();
