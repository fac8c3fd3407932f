// Which address a request comes from. X-Forwarded-For is written by whoever sends the request,
// so it is believed only as far as TRUST_PROXY says: for a number of proxy hops in front of us, or
// for hops whose own address is in a list of CIDRs. Anything else is the socket peer.
import { BlockList, isIP } from "node:net";

export type TrustProxy =
  | { kind: "none" }
  /** exactly this many proxies stand in front of the service; the client is that many hops back */
  | { kind: "hops"; hops: number }
  /** any peer (or forwarded hop) inside these ranges is a proxy whose claim about the next hop is believed */
  | { kind: "cidrs"; ranges: string[]; list: BlockList };

/** the address when none is known (app.request() in tests has no socket) */
export const UNKNOWN_ADDRESS = "unknown";

/** More hops than any real chain of proxies; a longer header is someone's padding. */
const MAX_HOPS = 32;

/**
 * TRUST_PROXY: unset, "false" or "0" trusts nobody; a positive integer is a hop count; otherwise a
 * comma list of addresses or CIDRs. Throws with a message naming what is wrong.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxy {
  const value = raw?.trim() ?? "";
  if (value === "" || value === "false" || value === "0") return { kind: "none" };
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > MAX_HOPS) throw new Error(`a hop count of at most ${MAX_HOPS}`);
    return { kind: "hops", hops };
  }
  const list = new BlockList();
  const ranges = value.split(",").map((s) => s.trim());
  for (const range of ranges) {
    const [address = "", prefix, extra] = range.split("/");
    const family = isIP(address);
    if (family === 0 || address.includes("%") || extra !== undefined) {
      throw new Error(`"${range}" is neither a hop count nor an address or CIDR (e.g. 1, or 10.0.0.0/8,::1)`);
    }
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits <= (family === 4 ? 32 : 128))) throw new Error(`"${range}" has a bad prefix length`);
    list.addSubnet(address, bits, type);
  }
  return { kind: "cidrs", ranges, list };
}

/** the address if `value` is a plain IP address (IPv4-mapped IPv6 as IPv4), else null */
export function plainAddress(value: string | undefined): string | null {
  const v = value?.trim();
  // zone ids ("fe80::1%eth0") pass isIP at any length and mean nothing to anyone but the sender
  if (!v || v.includes("%") || isIP(v) === 0) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v);
  return mapped?.[1] ?? v.toLowerCase();
}

function trusted(list: BlockList, address: string): boolean {
  return list.check(address, isIP(address) === 4 ? "ipv4" : "ipv6");
}

/**
 * Pure: the client address from the socket peer and the X-Forwarded-For header. Hops are taken
 * from the right (the nearest proxy appends last); the walk stops at the first hop that is not a
 * plain address, so the answer is always the peer or an address some trusted proxy wrote.
 */
export function resolveClientAddress(peer: string | undefined, forwardedFor: string | undefined, trust: TrustProxy): string {
  let client = plainAddress(peer);
  if (client === null) return UNKNOWN_ADDRESS;
  if (trust.kind === "none" || !forwardedFor) return client;
  const hops = forwardedFor.split(",").slice(-MAX_HOPS);
  const believe = trust.kind === "hops" ? (_: string, walked: number) => walked < trust.hops : (at: string) => trusted(trust.list, at);
  for (let walked = 0; believe(client, walked); walked++) {
    const next = plainAddress(hops.pop());
    if (next === null) break;
    client = next;
  }
  return client;
}
