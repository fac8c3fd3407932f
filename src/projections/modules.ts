import type { ModuleEventOf } from "../events/catalog/module.js";
import type { RecordedEvent } from "../events/envelope.js";
import { moduleVersionId } from "../graph/model.js";
import { NOT_VERIFIED_YET } from "../modules/registry.js";
import { own } from "../platform/own-keys.js";
import type { ProjectedDoc, Projection } from "./projection.js";
import type { IndexSpec } from "./store/port.js";

export const MODULE_VERSIONS = "module_versions";
const KEEP_VERDICTS = 20;

type Registered = ModuleEventOf<"ModuleVersionRegistered">["data"];
type Verified = ModuleEventOf<"ModuleVersionVerified">["data"];

/** One registered module version: what the registry answers without reading the log. */
export interface ModuleVersionDoc extends ProjectedDoc {
  name: string;
  version: string;
  digest: string;
  size: number;
  description: string | null;
  dependencies: { name: string; range: string }[];
  signature: Registered["signature"]["source"];
  verification: Verified["verification"];
  verifiedAt: string;
  /** the verdicts recorded for this version, newest last (at most KEEP_VERDICTS) */
  verdicts: { status: string; trigger: string; reason: string | null; at: string }[];
  registeredBy: string;
  registeredAt: string;
  /** node id -> the digest the node reported when it installed this version */
  reportedDigests: Record<string, string>;
  tenantId: string;
}

/** the document id of a module version: the graph's ModuleVersion id */
export { moduleVersionId };

interface InstalledData {
  nodeId: string;
  moduleName: string;
  version: string;
  digest?: string;
}

export const moduleVersionsProjection: Projection<ModuleVersionDoc> & { indexes: IndexSpec[] } = {
  name: "module-versions",
  version: 1,
  collection: MODULE_VERSIONS,
  filter: { eventTypes: ["ModuleVersionRegistered", "ModuleVersionVerified", "ModuleInstalled"] },
  indexes: [{ name: "name", keys: { name: 1 } }],
  keys(e) {
    if (e.type === "ModuleVersionRegistered" || e.type === "ModuleVersionVerified") {
      const d = e.data as { name: string; version: string };
      return [moduleVersionId(d.name, d.version)];
    }
    if (e.type === "ModuleInstalled" && typeof (e.data as InstalledData).digest === "string") {
      const d = e.data as InstalledData;
      return [moduleVersionId(d.moduleName, d.version)];
    }
    return [];
  },
  apply(doc, event: RecordedEvent) {
    switch (event.type) {
      case "ModuleVersionRegistered": {
        const d = event.data as Registered;
        return {
          _id: moduleVersionId(d.name, d.version),
          name: d.name,
          version: d.version,
          digest: d.digest,
          size: d.size,
          description: d.description,
          dependencies: d.dependencies,
          signature: d.signature.source,
          // replaced by the ModuleVersionVerified appended with it
          verification: doc?.verification ?? NOT_VERIFIED_YET,
          verifiedAt: doc?.verifiedAt ?? d.at,
          verdicts: doc?.verdicts ?? [],
          registeredBy: d.registeredBy,
          registeredAt: d.at,
          reportedDigests: doc?.reportedDigests ?? {},
          tenantId: event.metadata.tenantId ?? "default",
        };
      }
      case "ModuleVersionVerified": {
        if (!doc) return null;
        const d = event.data as Verified;
        const verdicts = [...doc.verdicts, { status: d.verification.status, trigger: d.trigger, reason: d.verification.reason, at: d.at }].slice(-KEEP_VERDICTS);
        return { ...doc, verification: d.verification, verifiedAt: d.at, verdicts };
      }
      case "ModuleInstalled": {
        if (!doc) return null;
        const d = event.data as InstalledData;
        if (!d.digest || own(doc.reportedDigests, d.nodeId) === d.digest) return doc;
        return { ...doc, reportedDigests: { ...doc.reportedDigests, [d.nodeId]: d.digest } };
      }
      default:
        return doc;
    }
  },
};
