// Preloaded into every test process by scripts/test.mjs. An error nobody handled ends a test file
// early, and Node's own report of it can be dozens of lines of inspected sockets; the runner shows
// only the end of a failed file's output, where the error's name could be cut off. This prints a
// short report first, on lines the runner keeps whatever their place, and leaves Node's handling
// (and the non-zero exit) as it is.
import { inspect } from "node:util";

export const GUARD_PREFIX = "[test guard]";

function describe(err) {
  if (!(err instanceof Error)) return [inspect(err, { depth: 2, breakLength: Infinity }).slice(0, 500)];
  const lines = [];
  let e = err;
  for (let depth = 0; e instanceof Error && depth < 4; depth++, e = e.cause) {
    const code = typeof e.code === "string" ? ` (${e.code})` : "";
    lines.push(`${depth ? "caused by " : ""}${e.name}: ${e.message}${code}`);
    const frames = (e.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l));
    lines.push(...frames.slice(0, 6).map((l) => `  ${l.trim()}`));
  }
  return lines;
}

process.on("uncaughtExceptionMonitor", (err, origin) => {
  const what = origin === "unhandledRejection" ? "unhandled promise rejection" : "uncaught exception";
  const file = process.argv[1] ?? "test file";
  const text = [`${what} in ${file}; the file ends here, its remaining tests unrun:`, ...describe(err)];
  // uvu prints a test's dot without a newline: start on a line of our own
  process.stderr.write(`\n${text.map((l) => `${GUARD_PREFIX} ${l}\n`).join("")}`);
});
