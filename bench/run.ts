// Runs every bench/*.bench.ts in its own process, one after another; each prints JSON lines
// ({"name","value","unit","conditions"}) to stdout, which pass through unchanged.
// `npm run bench -- <substring>...` selects files; `--quick` sets BENCH_QUICK=1 for each process
// (shorter runs, smaller sizes, said in each figure's conditions). At the end a table of every
// figure collected, and each file's time, goes to stderr.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

interface Figure {
  name: string;
  value: number;
  unit: string;
}

const dir = fileURLToPath(new URL(".", import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.filter((a) => a !== "--quick");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

/** Runs one bench file, passing its stdout through and keeping the figure lines. */
function runOne(file: string): Promise<{ code: number | null; figures: Figure[]; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", `${dir}${file}`], {
    stdio: ["inherit", "pipe", "inherit"],
    env: { ...process.env, LOG_LEVEL: "silent", ...(quick ? { BENCH_QUICK: "1" } : {}) },
  });
  const figures: Figure[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    process.stdout.write(line + "\n");
    try {
      const f = JSON.parse(line) as Partial<Figure>;
      if (typeof f.name === "string" && typeof f.value === "number") figures.push({ name: f.name, value: f.value, unit: String(f.unit ?? "") });
    } catch {
      // not a figure line: passed through only
    }
  });
  return new Promise((resolve) => {
    child.on("close", (code) => resolve({ code, figures, seconds: (performance.now() - started) / 1000 }));
  });
}

const results: { file: string; code: number | null; figures: Figure[]; seconds: number }[] = [];
for (const file of files) {
  const r = await runOne(file);
  if (r.code !== 0) console.error(`bench ${file} exited with ${r.code}`);
  results.push({ file, ...r });
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : String(Number(v.toPrecision(3))));
const lines: string[] = [`\n${quick ? "quick " : ""}bench summary (${results.reduce((s, r) => s + r.seconds, 0).toFixed(0)} s)`];
for (const r of results) {
  lines.push(`${r.file.replace(/\.bench\.ts$/, "")}: ${r.seconds.toFixed(0)} s${r.code === 0 ? "" : `, exited with ${r.code}`}, ${r.figures.length} figures`);
  const width = Math.max(0, ...r.figures.map((f) => f.name.length));
  for (const f of r.figures) lines.push(`  ${f.name.padEnd(width)}  ${fmt(f.value).padStart(10)} ${f.unit}`);
}
console.error(lines.join("\n"));
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
