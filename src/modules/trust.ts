// The trust store as an aggregate (stream trust-store): roots, revocations and the per-environment
// policy. Pure decider; the HTTP layer parses certificates before it asks.
import type { Decider } from "../commands/decider.js";
import { conflict, notFound } from "../commands/errors.js";
import type { ModuleEvent, ModuleEventOf } from "../events/catalog/module.js";
import { defaultPolicy, type PolicyEntry, type PolicyScope } from "./policy.js";

type TrustEvent = ModuleEventOf<"TrustRootAdded" | "TrustRootRemoved" | "TrustCertificateRevoked" | "TrustPolicyChanged">;
const TRUST_EVENT_TYPES = ["TrustRootAdded", "TrustRootRemoved", "TrustCertificateRevoked", "TrustPolicyChanged"] as const;

export interface TrustRoot {
  fingerprint256: string;
  subject: string;
  notAfter: string;
  pem: string;
  addedBy: string;
  addedAt: string;
}

export interface Revocation {
  fingerprint256: string;
  /** the same certificate's tbsCertificate SHA-256 values, where known */
  tbsFingerprints: string[];
  reason: string;
  revokedBy: string;
  revokedAt: string;
}

export interface TrustState {
  roots: ReadonlyMap<string, TrustRoot>;
  revocations: ReadonlyMap<string, Revocation>;
  /** null until an Admin sets one: the mode's default applies */
  policy: { environments: ReadonlyMap<PolicyScope, PolicyEntry>; changedBy: string; changedAt: string } | null;
}

const initialTrustState: TrustState = { roots: new Map(), revocations: new Map(), policy: null };

/** "ab:CD:..." or "abcd..." -> "AB:CD:...", as X509Certificate.fingerprint256 writes it; null when it is not 32 bytes of hex. */
export function normalizeFingerprint(raw: string): string | null {
  const hex = raw.replace(/:/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return null;
  return hex.match(/../g)!.join(":");
}

export type TrustCommand =
  | { type: "AddRoot"; fingerprint256: string; subject: string; notAfter: string; pem: string; by: string; now: number }
  | { type: "RemoveRoot"; fingerprint256: string; by: string; now: number }
  | { type: "Revoke"; fingerprint256: string; tbsFingerprints: string[]; reason: string; by: string; now: number }
  | { type: "SetPolicy"; environments: Record<string, PolicyEntry>; by: string; now: number };

function evolve(state: TrustState, event: TrustEvent): TrustState {
  switch (event.type) {
    case "TrustRootAdded": {
      const { fingerprint256, subject, notAfter, pem, by, at } = event.data;
      return { ...state, roots: new Map(state.roots).set(fingerprint256, { fingerprint256, subject, notAfter, pem, addedBy: by, addedAt: at }) };
    }
    case "TrustRootRemoved": {
      const roots = new Map(state.roots);
      roots.delete(event.data.fingerprint256);
      return { ...state, roots };
    }
    case "TrustCertificateRevoked": {
      const { fingerprint256, reason, by, at } = event.data;
      const tbsFingerprints = event.data.tbsFingerprints ?? [];
      return { ...state, revocations: new Map(state.revocations).set(fingerprint256, { fingerprint256, tbsFingerprints, reason, revokedBy: by, revokedAt: at }) };
    }
    case "TrustPolicyChanged":
      return {
        ...state,
        policy: { environments: new Map(Object.entries(event.data.environments) as [PolicyScope, PolicyEntry][]), changedBy: event.data.by, changedAt: event.data.at },
      };
  }
}

function decide(command: TrustCommand, state: TrustState): TrustEvent[] {
  const at = new Date(command.now).toISOString();
  switch (command.type) {
    case "AddRoot":
      // adding a root twice is the same request again
      if (state.roots.has(command.fingerprint256)) return [];
      return [{ type: "TrustRootAdded", data: { fingerprint256: command.fingerprint256, subject: command.subject, notAfter: command.notAfter, pem: command.pem, by: command.by, at } }];
    case "RemoveRoot": {
      const root = state.roots.get(command.fingerprint256);
      if (!root) throw notFound(`trusted root ${command.fingerprint256}`);
      return [{ type: "TrustRootRemoved", data: { fingerprint256: root.fingerprint256, subject: root.subject, by: command.by, at } }];
    }
    case "Revoke": {
      const earlier = state.revocations.get(command.fingerprint256);
      if (earlier) {
        if (earlier.reason === command.reason) return [];
        throw conflict(`${command.fingerprint256} was already revoked on ${earlier.revokedAt}: ${earlier.reason}`, { revokedAt: earlier.revokedAt });
      }
      const tbs = command.tbsFingerprints.length ? { tbsFingerprints: command.tbsFingerprints } : {};
      return [{ type: "TrustCertificateRevoked", data: { fingerprint256: command.fingerprint256, ...tbs, reason: command.reason, by: command.by, at } }];
    }
    case "SetPolicy":
      return [{ type: "TrustPolicyChanged", data: { environments: command.environments, by: command.by, at } }];
  }
}

export const trustDecider: Decider<TrustState, TrustCommand, TrustEvent> = {
  initialState: initialTrustState,
  cacheable: true,
  evolve: (state, event) => (TRUST_EVENT_TYPES.includes(event.type) ? evolve(state, event) : state),
  decide,
};

/** The policy in force: the one an Admin set, else the mode's default. */
export function policyInForce(state: TrustState, dev: boolean): { environments: ReadonlyMap<PolicyScope, PolicyEntry>; source: "configured" | "default" } {
  return state.policy ? { environments: state.policy.environments, source: "configured" } : { environments: defaultPolicy(dev), source: "default" };
}

export type { TrustEvent, ModuleEvent };
