import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readHostBootId } from "../util/boot-id.ts";
import { probedOncePerBoot } from "./probe-cache.ts";
import { TempDirs } from "../../test/helpers/temp.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

test("a verdict is probed once per host boot and key; another key, or a cache in another format, probes again", async () => {
  const path = join(temp.make("probe-cache-"), "verdict.json");
  let probes = 0;
  const probe = () => Promise.resolve({ ok: true, reason: `probe ${++probes}` });
  expect(await probedOncePerBoot(path, "lib:1", probe)).toEqual({ ok: true, reason: "probe 1" });
  expect(await probedOncePerBoot(path, "lib:1", probe)).toEqual({ ok: true, reason: "probe 1 (probed once this host boot)" });
  // A rebuilt library (or another QEMU) is a new key.
  expect(await probedOncePerBoot(path, "lib:2", probe)).toEqual({ ok: true, reason: "probe 2" });
  // The format accel.json had before: this boot, but no `key`.
  writeFileSync(path, JSON.stringify({ accelerator: "kvm", reason: "old format", bootId: readHostBootId(), qemu: "lib:2" }));
  expect(await probedOncePerBoot(path, "lib:2", probe)).toEqual({ ok: true, reason: "probe 3" });
});
