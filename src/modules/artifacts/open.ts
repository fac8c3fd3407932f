import { join } from "node:path";
import type { Clock } from "../../platform/clock.js";
import { FileArtifactStore } from "./file.js";
import type { ArtifactStore } from "./port.js";

/** GridFS in MONGODB_URL's database when set, else files under DATA_DIR/artifacts. `clock` dates commits. */
export async function openArtifactStore(opts: { dataDir: string; mongodbUrl?: string; mongodbDb: string; clock?: Clock }): Promise<ArtifactStore> {
  if (opts.mongodbUrl) {
    // loaded only when configured: each client library costs ~20 MiB of RSS (code, and bson's 17 MiB buffer) to a server that never uses it
    const { GridFsArtifactStore } = await import("./gridfs.js");
    return GridFsArtifactStore.connect(opts.mongodbUrl, opts.mongodbDb, { clock: opts.clock });
  }
  return FileArtifactStore.open(join(opts.dataDir, "artifacts"), { clock: opts.clock });
}
