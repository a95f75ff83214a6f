import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { loadConfig } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { GuestKernel } from "../kernel/kernel.ts";
import { chooseAccelerator } from "./accel.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

/** Arguments a forced choice never touches: no QEMU, kernel or disk exists behind them. */
function choose(accel: string) {
  const dir = temp.make("accel-");
  const config = loadConfig({ home: join(dir, "home") }, { BOXLITE_RUNTIME_DIR: join(dir, "runtime"), BOXLITE_ACCEL: accel });
  const kernel: GuestKernel = {
    elfPath: join(dir, "kernel.elf"),
    libkrunfwPath: join(dir, "libkrunfw.so.5"),
    libkrunfwOrigin: "embedded",
    libkrunfwVersion: 5,
    linuxVersion: "6.12.91",
  };
  return chooseAccelerator(config, join(dir, "no-qemu"), kernel, join(dir, "system.ext4"));
}

test("BOXLITE_ACCEL=kvm and tcg are taken as forced, without a probe", async () => {
  expect(await choose("kvm")).toEqual({ accelerator: "kvm", reason: "forced by BOXLITE_ACCEL=kvm" });
  expect(await choose("tcg")).toEqual({ accelerator: "tcg", reason: "forced by BOXLITE_ACCEL=tcg" });
});

test("BOXLITE_ACCEL=hvf is refused as unsupported, saying it needs macOS and what this build can use", async () => {
  const refused = await choose("hvf").then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(refused).toBeInstanceOf(BoxliteError);
  expect((refused as BoxliteError).code).toBe("unsupported");
  expect((refused as BoxliteError).message).toBe(
    "BOXLITE_ACCEL=hvf cannot be honoured: hvf is macOS's Hypervisor.framework, and this boxlite runs QEMU on Linux, " +
      "where the accelerators are kvm and tcg; set BOXLITE_ACCEL to kvm, tcg or auto",
  );
});
