import { beforeAll, describe, expect, test } from "bun:test";
import { FFIType } from "bun:ffi";
import { join } from "node:path";
import { buildRecorder } from "../../../test/fixtures/libkrun-recorder/recorder.ts";
import { isBoxliteError } from "../../util/errors.ts";
import { LIBKRUN_MIN_VERSION, libkrunCandidates, loadLibkrun, SIGNATURES } from "./ffi.ts";

/** libkrun.h's prototypes, kept in the repository (the file's header says where they come from). */
const PROTOTYPES = join(import.meta.dir, "..", "..", "..", "test", "fixtures", "libkrun-api", "prototypes.tsv");

interface HeaderPrototype {
  returns: string;
  args: string[];
  since: string;
}

/** Every `since<TAB>int32_t krun_x(...);` line of the fixture, with its C parameter types. */
async function readPrototypes(): Promise<Map<string, HeaderPrototype>> {
  const prototypes = new Map<string, HeaderPrototype>();
  for (const line of (await Bun.file(PROTOTYPES).text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(v\d+\.\d+\.\d+)\t(\w+) (krun_\w+)\(([^)]*)\);$/.exec(line);
    if (!match) throw new Error(`cannot parse the prototype line "${line}"`);
    const [, since = "", returns = "", name = "", params = ""] = match;
    const args = params.trim() === "" || params.trim() === "void" ? [] : params.split(",").map(paramType);
    prototypes.set(name, { returns, args, since });
  }
  return prototypes;
}

/** "const char *const rlimits[]" → "const char *const[]"; "uint32_t ctx_id" → "uint32_t". */
function paramType(param: string): string {
  const match = /^(.*?)\s*\w+\s*(\[\])?$/.exec(param.trim());
  if (!match) throw new Error(`cannot parse C parameter ${param}`);
  return `${(match[1] ?? "").replace(/\s*\*\s*/g, " *").trim()}${match[2] ?? ""}`.replace(/\* /g, "*");
}

/** How each C type of libkrun.h crosses bun:ffi. */
const C_TO_FFI: Record<string, FFIType> = {
  int32_t: FFIType.i32,
  int: FFIType.i32,
  uint8_t: FFIType.u8,
  uint32_t: FFIType.u32,
  uint64_t: FFIType.u64,
  bool: FFIType.bool,
  "const char *": FFIType.ptr,
  "const char *const[]": FFIType.ptr,
  "uint8_t *const": FFIType.ptr,
};

function toFfi(cType: string): FFIType {
  const type = C_TO_FFI[cType];
  if (type === undefined) throw new Error(`no bun:ffi mapping for the C type "${cType}"`);
  return type;
}

function versionParts(version: string): number[] {
  return version.replace(/^v/, "").split(".").map(Number);
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [versionParts(a), versionParts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

describe("SIGNATURES", () => {
  test("match the C prototypes of libkrun.h for every bound symbol", async () => {
    const header = await readPrototypes();
    expect(header.size).toBeGreaterThan(40); // the parser read the whole list
    for (const [name, signature] of Object.entries(SIGNATURES)) {
      const prototype = header.get(name);
      expect(prototype, `${name} is not in libkrun.h`).toBeDefined();
      if (!prototype) continue;
      const bound: { name: string; args: FFIType[]; returns: FFIType } = { name, args: [...signature.args], returns: signature.returns };
      expect(bound).toEqual({
        name,
        args: prototype.args.map(toFfi),
        returns: toFfi(prototype.returns),
      });
    }
  });

  test("parses the header's prototypes as C types (the parser the signature test relies on)", async () => {
    const header = await readPrototypes();
    expect(header.get("krun_set_rlimits")?.args).toEqual(["uint32_t", "const char *const[]"]);
    expect(header.get("krun_add_disk2")).toEqual({
      returns: "int32_t",
      args: ["uint32_t", "const char *", "const char *", "uint32_t", "bool"],
      since: "v1.10.0",
    });
    expect(header.get("krun_create_ctx")?.args).toEqual([]);
  });

  test("LIBKRUN_MIN_VERSION is the newest 'since' among the bound symbols", async () => {
    const header = await readPrototypes();
    const newest = Object.keys(SIGNATURES)
      .map((name) => header.get(name)?.since ?? "unknown")
      .sort(compareVersions)
      .at(-1);
    expect(newest).toBe(`v${LIBKRUN_MIN_VERSION}`);
  });
});

describe("loadLibkrun", () => {
  beforeAll(() => {
    buildRecorder();
  });

  test("a configured path is the only candidate", () => {
    expect(libkrunCandidates({ libkrun: "/opt/krun/libkrun.so.1" })).toEqual(["/opt/krun/libkrun.so.1"]);
  });

  test("without a configured path the soname is tried first", () => {
    expect(libkrunCandidates({})[0]).toBe(process.platform === "darwin" ? "libkrun.1.dylib" : "libkrun.so.1");
  });

  test("a missing library is a missing_dependency naming the package, the minimum version and BOXLITE_LIBKRUN", () => {
    let caught: unknown;
    try {
      loadLibkrun({ libkrun: "/nonexistent/libkrun.so.1" });
    } catch (error) {
      caught = error;
    }
    expect(isBoxliteError(caught) && caught.code).toBe("missing_dependency");
    expect((caught as Error).message).toBe(
      "libkrun was not found; tried /nonexistent/libkrun.so.1; install libkrun ≥ 1.18.0 (Fedora/Arch: libkrun, Homebrew: slp/krun/libkrun, Nix: libkrun) or set BOXLITE_LIBKRUN to its path",
    );
  });

  test("a library without the krun symbols is reported as too old", () => {
    expect(() => loadLibkrun({ libkrun: "libc.so.6" })).toThrow(/^libkrun is too old: libc\.so\.6 \(Symbol "krun_\w+" not found.*install libkrun ≥ 1\.18\.0/);
  });

  test("loads the recorder once per path", () => {
    const path = buildRecorder();
    const lib = loadLibkrun({ libkrun: path });
    expect(lib.path).toBe(path);
    expect(loadLibkrun({ libkrun: path })).toBe(lib);
    expect(typeof lib.symbols.krun_start_enter).toBe("function");
  });
});
