// Manage users straight on the event store, for production mode where no demo users exist and
// the first Admin must come from somewhere:
//   npm run users -- create --username alice --roles Admin,Deployer,Viewer   (password from KORCH_PASSWORD or prompt)
//   npm run users -- roles --username alice --roles Viewer
import { parseArgs } from "node:util";
import { createInterface } from "node:readline/promises";
import { catalog } from "../events/catalog/index.js";
import { RoleSchema } from "../events/catalog/user.js";
import { EventLog } from "../events/event-log.js";
import { openEventStore } from "../events/store/open.js";
import { streams } from "../events/streams.js";
import { loadConfig } from "../platform/config.js";
import { DomainError } from "./errors.js";
import { handleCommand } from "./handler.js";
import { userDecider } from "./user.js";
import { createUser, loadUser } from "./users.js";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { username: { type: "string" }, roles: { type: "string" }, email: { type: "string" } },
});
const [verb] = positionals;
if ((verb !== "create" && verb !== "roles") || !values.username || !values.roles) {
  console.error("usage: npm run users -- create|roles --username NAME --roles Admin,Deployer,Viewer [--email E]");
  process.exit(2);
}
const roles = RoleSchema.exclude(["Node"]).array().min(1).safeParse(values.roles.split(",").map((r) => r.trim()));
if (!roles.success) {
  console.error("roles must be a comma-separated list of Admin, Deployer, Viewer");
  process.exit(2);
}

const config = loadConfig();
const store = openEventStore({ eventstoreUrl: config.eventstoreUrl, dataDir: config.dataDir, sqliteSynchronous: config.sqliteSynchronous });
const log = new EventLog(store, catalog);
const ctx = { actor: { kind: "system" as const, id: `users-cli:${process.env.USER ?? "unknown"}` }, correlationId: `users-cli-${Date.now()}`, now: Date.now() };
try {
  if (verb === "create") {
    let password = process.env.KORCH_PASSWORD;
    if (!password) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      password = await rl.question("password (at least 10 characters): ");
      rl.close();
    }
    if (password.length < 10) throw new DomainError("validation", "password must be at least 10 characters");
    const r = await createUser(log, { username: values.username, password, roles: roles.data, email: values.email }, ctx);
    console.log(`created ${values.username} with roles ${roles.data.join(", ")} at position ${r.position}`);
  } else {
    if (!(await loadUser(log, values.username)).exists) throw new DomainError("not_found", `user ${values.username} not found`);
    const r = await handleCommand(log, streams.user(values.username), userDecider, { type: "ChangeRoles", roles: roles.data }, ctx);
    console.log(`${values.username} now has roles ${roles.data.join(", ")} (position ${r.position})`);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await store.close();
}
