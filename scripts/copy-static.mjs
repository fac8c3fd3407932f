// tsc copies no files but TypeScript: the dashboard's own static assets (src/ui/assets.ts reads
// them next to its module) go beside the compiled code, so `node dist/src/main.js` serves /ui too.
import { cpSync } from "node:fs";

cpSync("src/ui/static", "dist/src/ui/static", { recursive: true });
