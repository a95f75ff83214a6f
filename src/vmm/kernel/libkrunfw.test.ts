import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { BoxliteError } from "../../util/errors.ts";
import { openLibkrunfw } from "./libkrunfw.ts";
import type { LibkrunfwSource } from "./libkrunfw-source.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

function refusal(source: LibkrunfwSource): BoxliteError {
  try {
    openLibkrunfw(source).close();
  } catch (error) {
    if (error instanceof BoxliteError) return error;
    throw error;
  }
  throw new Error(`${source.path} loaded`);
}

test("a BOXLITE_LIBKRUNFW that does not load is a missing_dependency naming the variable, the package and the way back to the embedded copy", () => {
  const error = refusal({ path: "/nonexistent/libkrunfw.so.5", origin: "BOXLITE_LIBKRUNFW" });
  expect(error.code).toBe("missing_dependency");
  expect(error.message).toStartWith("libkrunfw (the guest kernel) could not be loaded from BOXLITE_LIBKRUNFW=/nonexistent/libkrunfw.so.5: ");
  expect(error.message).toEndWith(
    ". Point BOXLITE_LIBKRUNFW at a libkrunfw.so.5 (Debian sid: libkrunfw5, Fedora/Arch: libkrunfw) or unset it to use the copy embedded in boxlite",
  );
});

test("an extracted copy that does not load names its path and what to try", () => {
  const path = join(temp.make("runtime-"), "libkrunfw-000000000000.so.5");
  writeFileSync(path, "not an ELF file");
  const error = refusal({ path, origin: "embedded" });
  expect(error.code).toBe("missing_dependency");
  expect(error.message).toStartWith(`libkrunfw (the guest kernel) could not be loaded from ${path}: `);
  expect(error.message).toContain("if that directory is on a noexec filesystem, set BOXLITE_RUNTIME_DIR elsewhere, or set BOXLITE_LIBKRUNFW");
});
