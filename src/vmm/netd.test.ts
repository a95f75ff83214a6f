import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config/config.ts";
import { readHostBootId } from "../util/boot-id.ts";
import { checkNetdLoads, prepareNetd } from "./netd.ts";

const dir = mkdtempSync(join(tmpdir(), "netd-load-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the embedded netd loads on this host (it prints its usage and exits 2 without arguments)", async () => {
  const program = await prepareNetd(loadConfig({ home: join(dir, "home") }, { BOXLITE_RUNTIME_DIR: join(dir, "runtime") }));
  const run = Bun.spawnSync([program], { stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode).toBe(2);
});

test("a netd the loader cannot start is a missing dependency naming the package, with the loader's reason", () => {
  // What the dynamic loader does when libslirp.so.0 is absent: a line on stderr, exit 127.
  const program = join(dir, "netd-without-libslirp");
  writeFileSync(program, "#!/bin/sh\necho 'netd: error while loading shared libraries: libslirp.so.0: cannot open shared object file' >&2\nexit 127\n");
  chmodSync(program, 0o755);
  expect(() => checkNetdLoads(program)).toThrow(
    "the box's network process cannot start (netd: error while loading shared libraries: libslirp.so.0: cannot open shared object file); install libslirp0 (apt-get install libslirp0), or create the box with --network disabled",
  );
});

test("a netd seen to load in this host boot is not run again; one seen in another boot is", () => {
  const failing = "#!/bin/sh\necho 'netd: error while loading shared libraries: libslirp.so.0: cannot open shared object file' >&2\nexit 127\n";
  const seen = join(dir, "netd-seen-this-boot");
  writeFileSync(seen, failing);
  chmodSync(seen, 0o755);
  writeFileSync(`${seen}.loads`, readHostBootId());
  expect(() => checkNetdLoads(seen)).not.toThrow();
  const stale = join(dir, "netd-seen-another-boot");
  writeFileSync(stale, failing);
  chmodSync(stale, 0o755);
  writeFileSync(`${stale}.loads`, "another-boot");
  expect(() => checkNetdLoads(stale)).toThrow("install libslirp0");
});

test("a netd that loads leaves the mark of this host boot beside it", async () => {
  const program = await prepareNetd(loadConfig({ home: join(dir, "home2") }, { BOXLITE_RUNTIME_DIR: join(dir, "runtime2") }));
  checkNetdLoads(program);
  expect(readFileSync(`${program}.loads`, "utf8")).toBe(readHostBootId());
});
