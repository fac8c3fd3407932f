// One module's versions as an aggregate (stream module-<name>). Versions are immutable: the same
// bytes (and signature) again is the same request, anything else under that version is a conflict.
// Verdicts are recorded when they change, so the stream says what was trusted when.
import type { z } from "zod";
import type { Decider } from "../commands/decider.js";
import { conflict, notFound } from "../commands/errors.js";
import { deepFreeze } from "../platform/deep-freeze.js";
import type { ModuleEventOf, VerdictTriggerShape, VerificationShape } from "../events/catalog/module.js";
import type { Verification } from "./verification/index.js";

type RegistryEvent = ModuleEventOf<"ModuleVersionRegistered" | "ModuleVersionVerified">;
export type RecordedVerification = z.infer<typeof VerificationShape>;

/** a version's verdict between ModuleVersionRegistered and the ModuleVersionVerified appended with it */
export const NOT_VERIFIED_YET: RecordedVerification = deepFreeze({
  status: "unsigned",
  signer: null,
  chain: [],
  chainFingerprints: [],
  checks: { integrity: "skipped", authenticity: "skipped", expiry: "skipped", revocation: "skipped" },
  reason: "not verified yet",
  failures: [],
});
export type VerdictTrigger = z.infer<typeof VerdictTriggerShape>;
export type Registration = ModuleEventOf<"ModuleVersionRegistered">["data"];

// the verifier's verdict is stored as it is: it must fit the stored shape
const fitsStoredShape = (v: Verification): RecordedVerification => v;
void fitsStoredShape;

export interface ModuleVersionState extends Registration {
  verification: RecordedVerification;
  verifiedAt: string;
}

export interface ModuleState {
  name: string;
  versions: ReadonlyMap<string, ModuleVersionState>;
}

const initialModuleState: ModuleState = { name: "", versions: new Map() };

export type ModuleCommand =
  | { type: "RegisterVersion"; registration: Registration; verification: Verification }
  | { type: "RecordVerdict"; version: string; verification: Verification; trigger: VerdictTrigger; now: number };

function evolve(state: ModuleState, event: RegistryEvent): ModuleState {
  switch (event.type) {
    case "ModuleVersionRegistered": {
      return { name: event.data.name, versions: new Map(state.versions).set(event.data.version, { ...event.data, verification: NOT_VERIFIED_YET, verifiedAt: event.data.at }) };
    }
    case "ModuleVersionVerified": {
      const v = state.versions.get(event.data.version);
      if (!v) return state;
      return { ...state, versions: new Map(state.versions).set(v.version, { ...v, verification: event.data.verification, verifiedAt: event.data.at }) };
    }
  }
}

/** Two verdicts say the same when status, checks, path and reasons agree (times do not count). */
function sameVerdict(a: RecordedVerification, b: RecordedVerification): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.chainFingerprints.join() === b.chainFingerprints.join() &&
    (["integrity", "authenticity", "expiry", "revocation"] as const).every((c) => a.checks[c] === b.checks[c]) &&
    a.failures.map((f) => `${f.check}:${f.code}`).join() === b.failures.map((f) => `${f.check}:${f.code}`).join()
  );
}

const sameSignature = (a: Registration, b: Registration) =>
  a.signature.source === b.signature.source && a.signature.der === b.signature.der && (a.certificates ?? "").trim() === (b.certificates ?? "").trim();

function decide(command: ModuleCommand, state: ModuleState): RegistryEvent[] {
  switch (command.type) {
    case "RegisterVersion": {
      const r = command.registration;
      const existing = state.versions.get(r.version);
      if (existing) {
        if (existing.digest !== r.digest) {
          throw conflict(`${r.name}@${r.version} is already registered with other bytes (${existing.digest}); versions are immutable, publish a new version`, {
            digest: existing.digest,
          });
        }
        if (!sameSignature(existing, r)) {
          throw conflict(`${r.name}@${r.version} is already registered with these bytes but another signature or certificates; versions are immutable`, {
            digest: existing.digest,
          });
        }
        return [];
      }
      return [
        { type: "ModuleVersionRegistered", data: r },
        { type: "ModuleVersionVerified", data: { name: r.name, version: r.version, digest: r.digest, verification: command.verification, trigger: "registered", at: r.at } },
      ];
    }
    case "RecordVerdict": {
      const v = state.versions.get(command.version);
      if (!v) throw notFound(`${state.name || "module"}@${command.version}`);
      if (sameVerdict(v.verification, command.verification)) return [];
      const at = new Date(command.now).toISOString();
      return [{ type: "ModuleVersionVerified", data: { name: v.name, version: v.version, digest: v.digest, verification: command.verification, trigger: command.trigger, at } }];
    }
  }
}

export const moduleDecider: Decider<ModuleState, ModuleCommand, RegistryEvent> = {
  initialState: initialModuleState,
  cacheable: true,
  evolve: (state, event) => (event.type === "ModuleVersionRegistered" || event.type === "ModuleVersionVerified" ? evolve(state, event) : state),
  decide,
};

export type { RegistryEvent };
