/**
 * The query of a request URL as hono's validator hands it to a schema: every name with its value,
 * or an array of its values when it came more than once (c.req.queries(), then one value taken out
 * of its array). Hono builds c.req.queries() in a null-prototype dictionary, and setting a key cut
 * from the URL there cost ~0.5 us each on a list request's `?limit=20` (the most of the route's
 * validation); here a URL without percent-encoding or "+" (nothing to decode) is split with
 * hono's own rules into a Map and a plain object. A URL with either goes to `decoded`
 * (c.req.queries()), so decoding stays hono's.
 */
export function validatorQuery(url: string, decoded: () => Record<string, string[]>): Record<string, string | string[]> {
  const hash = url.indexOf("#", 8);
  if (hash !== -1) url = url.slice(0, hash);
  if (url.includes("%") || url.includes("+")) return oneOrMany(Object.entries(decoded()));
  const values = new Map<string, string[]>();
  let at = url.indexOf("?", 8);
  while (at !== -1) {
    const next = url.indexOf("&", at + 1);
    let eq = url.indexOf("=", at);
    if (eq > next && next !== -1) eq = -1;
    const name = url.slice(at + 1, eq === -1 ? (next === -1 ? undefined : next) : eq);
    const value = eq === -1 ? "" : url.slice(eq + 1, next === -1 ? undefined : next);
    at = next;
    if (name === "") continue;
    const seen = values.get(name);
    if (seen) seen.push(value);
    else values.set(name, [value]);
  }
  return oneOrMany(values);
}

function oneOrMany(entries: Iterable<[string, string[]]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, v] of entries) {
    const value = v.length === 1 ? v[0]! : v;
    // a name from the URL is a field, never the object's prototype
    if (name === "__proto__") Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}
