// Login helpers for lockout tests: a login from a simulated client address (needs TRUST_PROXY
// covering the loopback peer) and the server's count of password checks.
import * as assert from "uvu/assert";
import type { TestServer } from "./server.js";

export const attempt = (s: TestServer, username: string, password: string, from?: string) =>
  s.call("/api/v1/authentication/login", { method: "POST", json: { username, password }, headers: from ? { "x-forwarded-for": from } : {} });

/** how many scrypt password checks the server has run, from its Prometheus metrics */
export async function passwordChecks(s: TestServer): Promise<number> {
  const text = await (await s.call("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith("auth_password_checks_total"));
  assert.ok(line, "auth_password_checks_total is exported");
  return Number(line.split(" ").at(-1));
}
