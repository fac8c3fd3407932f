// GET /api/v1/deployments builds its body from each item's JSON made once and says its length
// itself (Content-Length from the items' byte lengths, so the server does not measure the body).
// Over real sockets: the length must be the body's in UTF-8 (descriptions beyond ASCII, a cursor
// or none, HEAD), the body what c.json({ items, nextCursor }) would have sent, and paging by
// cursor must visit every deployment once, newest first.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

type Page = { items: { executionId: string; createdAt: string; description?: string | null }[]; nextCursor: string | null };

const t = suite<{ s: TestServer; viewer: string; ids: string[] }>("deployments list bytes");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  const deployer = await ctx.s.login(...DEMO.deployer);
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
  ctx.ids = [];
  const descriptions = ["plain", "café ✓", "emoji 😀 and a line separator \u2028", 'quotes " and \\ backslash', "日本語"];
  for (const description of descriptions) {
    const res = await ctx.s.call("/api/v1/deployments", {
      method: "POST",
      token: deployer,
      json: { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "dev@example.com", description },
    });
    assert.is(res.status, 202, await res.clone().text());
    ctx.ids.push(((await res.json()) as { executionId: string }).executionId);
  }
  await ctx.s.deps.projections.waitFor(await ctx.s.deps.log.headPosition(), 10_000);
});
t.after(async (ctx) => ctx.s.stop());

async function page(s: TestServer, token: string, query: string): Promise<Page> {
  const res = await s.call(`/api/v1/deployments${query}`, { token });
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "application/json");
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.is(Number(res.headers.get("content-length")), bytes.length, `Content-Length of ${query}`);
  const text = bytes.toString("utf8");
  const parsed = JSON.parse(text) as Page;
  // the very bytes c.json would send
  assert.is(text, JSON.stringify({ items: parsed.items, nextCursor: parsed.nextCursor }));
  return parsed;
}

t("Content-Length is the body's length in UTF-8, with and without a cursor, and the body is c.json's", async ({ s, viewer, ids }) => {
  const all = await page(s, viewer, "?limit=50");
  assert.is(all.nextCursor, null);
  assert.equal(new Set(all.items.map((d) => d.executionId)), new Set(ids));
  assert.ok(all.items.some((d) => d.description === "emoji 😀 and a line separator \u2028"));
  for (let i = 1; i < all.items.length; i++) assert.ok(all.items[i - 1]!.createdAt >= all.items[i]!.createdAt, "newest first");
  assert.is((await page(s, viewer, "?limit=1")).items.length, 1);
  const none = await page(s, viewer, "?limit=5&environment=Production");
  assert.equal(none, { items: [], nextCursor: null });
});

t("paging by cursor visits every deployment once, in the order of the whole list", async ({ s, viewer }) => {
  const all = (await page(s, viewer, "?limit=50")).items.map((d) => d.executionId);
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const p: Page = await page(s, viewer, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
    seen.push(...p.items.map((d) => d.executionId));
    cursor = p.nextCursor;
  } while (cursor);
  assert.equal(seen, all);
});

t("HEAD answers the GET's Content-Length and no body", async ({ s, viewer }) => {
  const get = await s.call("/api/v1/deployments?limit=3", { token: viewer });
  const length = get.headers.get("content-length");
  assert.is(Number(length), Buffer.byteLength(await get.text()));
  const head = await s.call("/api/v1/deployments?limit=3", { method: "HEAD", token: viewer });
  assert.is(head.status, 200);
  assert.is(head.headers.get("content-length"), length);
  assert.is(await head.text(), "");
});

t.run();
