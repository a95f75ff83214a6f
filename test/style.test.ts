/** Style rules that a machine can hold (docs/architecture.md, "Modules and boundaries"). */
import { expect, test } from "bun:test";
import { join, relative } from "node:path";
import { REPO } from "./helpers/cli.ts";

const sources = [...new Bun.Glob("src/**/*.ts").scanSync(REPO)].filter((path) => !path.endsWith(".test.ts"));
const read = (path: string) => Bun.file(join(REPO, path)).text();

test("there are sources to check", () => expect(sources.length).toBeGreaterThan(20));

test("only vmm/, disk/ and the libc flock binding import bun:ffi", async () => {
  const offenders: string[] = [];
  for (const path of sources) {
    if ((await read(path)).includes('from "bun:ffi"') && !/^src\/(vmm|disk)\//.test(path) && path !== "src/util/flock.ts") offenders.push(path);
  }
  expect(offenders).toEqual([]);
});

test("only config/ reads process.env", async () => {
  const offenders: string[] = [];
  for (const path of sources) {
    if ((await read(path)).includes("process.env") && !path.startsWith("src/config/")) offenders.push(path);
  }
  expect(offenders).toEqual([]);
});

test("only db/ touches SQL (bun:sqlite)", async () => {
  const offenders: string[] = [];
  for (const path of sources) {
    if ((await read(path)).includes('from "bun:sqlite"') && !path.startsWith("src/db/")) offenders.push(path);
  }
  expect(offenders).toEqual([]);
});

test("node:net, node:stream and node:zlib are loaded where used, not with every start (import() inside the function; types alone may be imported)", async () => {
  const offenders: string[] = [];
  for (const path of sources) {
    if (/^import (?!type )[^;]*from "node:(net|stream|stream\/promises|zlib)"/m.test(await read(path))) offenders.push(path);
  }
  expect(offenders).toEqual([]);
});

test("no source uses the any type", async () => {
  const offenders: string[] = [];
  for (const path of sources) {
    if (/(:\s*any\b|\bas any\b|<any>)/.test(await read(path))) offenders.push(path);
  }
  expect(offenders).toEqual([]);
});

test("no source file grows past 400 lines", async () => {
  const long: string[] = [];
  for (const path of sources) {
    const lines = (await read(path)).split("\n").length;
    if (lines > 400) long.push(`${relative(REPO, join(REPO, path))}: ${lines}`);
  }
  expect(long).toEqual([]);
});

/**
 * The layers of docs/architecture.md: imports point downward (or sideways) only. model/ is
 * the box model (options and their codecs, the state machine): above storage, below the runtime.
 */
const LAYER: Record<string, number> = { util: 0, config: 0, "guest-protocol": 1, disk: 1, image: 1, vmm: 1, db: 1, model: 2, runtime: 3, cli: 4, api: 4 };

function layerOf(path: string): number {
  const top = path.replace(/^src\//, "").split("/")[0] as string;
  return LAYER[top] ?? 5; // main.ts, index.ts and friends sit on top
}

test("dependencies point downward: cli, api → runtime → model → vmm, image, disk, db, guest-protocol → config, util", async () => {
  const offenders: string[] = [];
  for (const path of sources) {
    for (const match of (await read(path)).matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
      const target = relative(REPO, join(REPO, path, "..", match[1] as string));
      if (target.startsWith("src/") && layerOf(target) > layerOf(path)) offenders.push(`${path} → ${target}`);
    }
  }
  expect(offenders).toEqual([]);
});

/**
 * The repository stands alone: no code, test, script or doc reads or cites the notes that
 * lived beside it while it was written (a fresh clone has nothing beside it).
 */
/** The notes' directory (as a path or joined), their files by name, and section citations of their reference notes. */
const BESIDE_THE_REPOSITORY = /\.\.\/shared\b|"\.\.",\s*"shared"|\bshared\/reference\b|(?<![\w/])(?:KERNEL|DESIGN|STYLE)\.md|\bfeatures §|\breference §/g;

test("nothing reads or cites files beside the repository", async () => {
  const files = [
    ...new Bun.Glob("{src,test,scripts,docs,host,guest,ffi,migrations}/**/*.{ts,c,h,sh,md,sql,tsv,json}").scanSync(REPO),
    "README.md",
    "package.json",
  ];
  expect(files.length).toBeGreaterThan(100);
  const offenders: string[] = [];
  for (const path of files) {
    const text = await read(path);
    for (const match of text.matchAll(BESIDE_THE_REPOSITORY)) offenders.push(`${path}: ${match[0]}`);
  }
  expect(offenders).toEqual([]);
});
