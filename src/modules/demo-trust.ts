import { randomUUID } from "node:crypto";
import type { Clock } from "../platform/clock.js";
import type { Logger } from "../platform/logger.js";
import { ensureDemoPki } from "./demo-pki.js";
import type { ModuleService } from "./service.js";
import { parseCertificates } from "./verification/index.js";

/**
 * Development mode: the demo CA of DATA_DIR/demo-pki is a trusted root, so a module signed with
 * its signing certificate verifies. Adding a root already there appends nothing.
 */
export async function trustDemoPki(modules: ModuleService, dataDir: string, clock: Clock, logger: Logger): Promise<void> {
  try {
    const pki = await ensureDemoPki(dataDir, clock.now());
    const [ca] = parseCertificates(pki.caPem);
    if (!ca) return;
    const now = clock.now();
    const r = await modules.trustCommand(
      { type: "AddRoot", fingerprint256: ca.fingerprint256, subject: ca.subject, notAfter: ca.notAfter.toISOString(), pem: pki.caPem, by: "system", now },
      { actor: { kind: "system", id: "demo-pki" }, correlationId: randomUUID(), now },
    );
    if (pki.created || r.events.length) logger.info({ dir: pki.dir, fingerprint256: ca.fingerprint256 }, "development: demo module-signing CA trusted (sign with npm run modules -- sign)");
  } catch (err) {
    // the service is of use without it: signed uploads are then judged untrusted
    logger.warn({ err }, "development: could not set up the demo module-signing PKI");
  }
}
