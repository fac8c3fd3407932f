import { Gauge, type Registry } from "prom-client";
import { expiresAtOf, versionOf, type SecretState } from "../commands/secret.js";
import type { Clock } from "../platform/clock.js";
import type { SecretDirectory } from "./read-model.js";

export interface SecretAlerts {
  /** secrets whose current version is past its expiry */
  expired: { name: string; kind: string; version: number; expiresAt: string }[];
  /** secrets whose rotation keeps failing: retries used up, a person must act */
  failing: { name: string; kind: string; reason: string; since: string }[];
}

function currentExpiry(s: SecretState): { version: number; expiresAt: string } | null {
  const v = s.labels.current === null ? undefined : versionOf(s, s.labels.current);
  const expiresAt = v ? expiresAtOf(s, v) : null;
  return v && expiresAt ? { version: v.version, expiresAt } : null;
}

/** What /health reports to authenticated callers. */
export function secretAlerts(directory: SecretDirectory, now: number): SecretAlerts {
  const alerts: SecretAlerts = { expired: [], failing: [] };
  for (const s of directory.list()) {
    const e = currentExpiry(s);
    if (e && Date.parse(e.expiresAt) <= now) alerts.expired.push({ name: s.name, kind: s.kind, ...e });
    if (s.failing) alerts.failing.push({ name: s.name, kind: s.kind, reason: s.failing.reason, since: s.failing.at });
  }
  return alerts;
}

/** secret_age_seconds and secret_expires_in_seconds, computed from the read model at each scrape. */
export function registerSecretGauges(registry: Registry, directory: SecretDirectory, clock: Clock): void {
  new Gauge({
    name: "secret_age_seconds",
    help: "Seconds since the current version of each secret was created",
    labelNames: ["secret", "kind"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const now = clock.now();
      for (const s of directory.list()) {
        const v = s.labels.current === null ? undefined : versionOf(s, s.labels.current);
        if (v) this.set({ secret: s.name, kind: s.kind }, Math.max(0, (now - Date.parse(v.createdAt)) / 1000));
      }
    },
  });
  new Gauge({
    name: "secret_expires_in_seconds",
    help: "Seconds until the current version of each secret expires (negative: expired); secrets without expiresAfterDays are not listed",
    labelNames: ["secret", "kind"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const now = clock.now();
      for (const s of directory.list()) {
        const e = currentExpiry(s);
        if (e) this.set({ secret: s.name, kind: s.kind }, (Date.parse(e.expiresAt) - now) / 1000);
      }
    },
  });
  new Gauge({
    name: "secret_rotation_failing",
    help: "1 while a secret's rotation is failing (retries used up; needs a person), else 0",
    labelNames: ["secret", "kind"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of directory.list()) this.set({ secret: s.name, kind: s.kind }, s.failing ? 1 : 0);
    },
  });
}
