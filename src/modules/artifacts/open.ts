import { join } from "node:path";
import { FileArtifactStore } from "./file.js";
import { GridFsArtifactStore } from "./gridfs.js";
import type { ArtifactStore } from "./port.js";

/** GridFS in MONGODB_URL's database when set, else files under DATA_DIR/artifacts. */
export async function openArtifactStore(opts: { dataDir: string; mongodbUrl?: string; mongodbDb: string }): Promise<ArtifactStore> {
  if (opts.mongodbUrl) return GridFsArtifactStore.connect(opts.mongodbUrl, opts.mongodbDb);
  return FileArtifactStore.open(join(opts.dataDir, "artifacts"));
}
