// Manage users straight on the event store, for production mode where no demo users exist and
// the first Admin must come from somewhere:
//   npm run users -- create --username alice --roles Admin,Deployer,Viewer   (password from KORCH_PASSWORD or prompt)
//   npm run users -- roles --username alice --roles Viewer
//   npm run users -- disable admin deployer viewer                            (enable NAME... undoes it)
import { parseArgs } from "node:util";
import { createInterface } from "node:readline/promises";
import { catalog } from "../events/catalog/index.js";
import { RoleSchema, type Role } from "../events/catalog/user.js";
import { EventLog } from "../events/event-log.js";
import { openEventStore } from "../events/store/open.js";
import { streams } from "../events/streams.js";
import { loadConfig } from "../platform/config.js";
import { DomainError } from "./errors.js";
import { handleCommand } from "./handler.js";
import { userDecider } from "./user.js";
import { createUser, loadUser } from "./users.js";

const usage = `usage: npm run users -- create|roles --username NAME --roles Admin,Deployer,Viewer [--email E]
       npm run users -- disable|enable NAME [NAME...]`;
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { username: { type: "string" }, roles: { type: "string" }, email: { type: "string" } },
});
const [verb, ...names] = positionals;
if (values.username) names.push(values.username);
function usageError(message?: string): never {
  if (message) console.error(message);
  console.error(usage);
  process.exit(2);
}
let roles: Exclude<Role, "Node">[] = [];
if (verb === "create" || verb === "roles") {
  if (!values.username || !values.roles) usageError();
  const parsed = RoleSchema.exclude(["Node"]).array().min(1).safeParse(values.roles.split(",").map((r) => r.trim()));
  if (!parsed.success) usageError("roles must be a comma-separated list of Admin, Deployer, Viewer");
  roles = parsed.data;
} else if (verb !== "disable" && verb !== "enable") {
  usageError();
} else if (names.length === 0) {
  usageError(`${verb}: name at least one user`);
}

const config = loadConfig();
const store = await openEventStore({ eventstoreUrl: config.eventstoreUrl, dataDir: config.dataDir, sqliteSynchronous: config.sqliteSynchronous });
const log = new EventLog(store, catalog);
const ctx = { actor: { kind: "system" as const, id: `users-cli:${process.env.USER ?? "unknown"}` }, correlationId: `users-cli-${Date.now()}`, now: Date.now() };
try {
  if (verb === "create") {
    const username = values.username!;
    let password = process.env.KORCH_PASSWORD;
    if (!password) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      password = await rl.question("password (at least 10 characters): ");
      rl.close();
    }
    if (password.length < 10) throw new DomainError("validation", "password must be at least 10 characters");
    const r = await createUser(log, { username, password, roles, email: values.email }, ctx);
    console.log(`created ${username} with roles ${roles.join(", ")} at position ${r.position}`);
  } else if (verb === "roles") {
    const username = values.username!;
    if (!(await loadUser(log, username)).exists) throw new DomainError("not_found", `user ${username} not found`);
    const r = await handleCommand(log, streams.user(username), userDecider, { type: "ChangeRoles", roles }, ctx);
    console.log(`${username} now has roles ${roles.join(", ")} (position ${r.position})`);
  } else {
    for (const username of names) {
      const user = await loadUser(log, username);
      if (!user.exists) {
        console.error(`user ${username} not found`);
        process.exitCode = 1;
        continue;
      }
      const disable = verb === "disable";
      // asking for the state a user is already in is success: the command says what should be true
      if (user.disabled === disable) {
        console.log(`${username} is already ${disable ? "disabled" : "enabled"}`);
        continue;
      }
      const r = await handleCommand(log, streams.user(username), userDecider, { type: disable ? "DisableUser" : "EnableUser" }, ctx);
      console.log(`${disable ? "disabled" : "enabled"} ${username} (position ${r.position})`);
    }
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await store.close();
}
