import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorOf } from "../../test/helpers/errors.ts";
import { checkVolumes, parseVolumeSpec, type VolumeMount, volumeSpecOf } from "./volumes.ts";

const dir = mkdtempSync(join(tmpdir(), "boxlite-volumes-"));
const file = join(dir, "file.txt");
writeFileSync(file, "x");
mkdirSync(join(dir, "sub"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("-v", () => {
  test("reads HOST:BOX, HOST:BOX:ro|rw, BOX and BOX:ro", () => {
    expect(parseVolumeSpec("/srv:/data")).toEqual({ hostPath: "/srv", guestPath: "/data", readOnly: false });
    expect(parseVolumeSpec("/srv:/data:ro")).toEqual({ hostPath: "/srv", guestPath: "/data", readOnly: true });
    expect(parseVolumeSpec("/srv:/data:rw")).toEqual({ hostPath: "/srv", guestPath: "/data", readOnly: false });
    expect(parseVolumeSpec("/cache")).toEqual({ anonymous: true, guestPath: "/cache", readOnly: false });
    expect(parseVolumeSpec("/cache:ro")).toEqual({ anonymous: true, guestPath: "/cache", readOnly: true });
  });

  test("makes a relative host path absolute against the working directory, and does not expand ~", () => {
    expect(parseVolumeSpec("./src:/app", "/home/u/work")).toEqual({ hostPath: "/home/u/work/src", guestPath: "/app", readOnly: false });
    expect(parseVolumeSpec(".:/app", "/home/u/work")).toEqual({ hostPath: "/home/u/work", guestPath: "/app", readOnly: false });
    expect(parseVolumeSpec("./a/../b:/app", "/w")).toMatchObject({ hostPath: "/w/b" });
    expect(parseVolumeSpec("~/src:/app", "/w")).toMatchObject({ hostPath: "/w/~/src" });
  });

  test("reads a first part without '/' as a named volume, as docker", () => {
    expect(parseVolumeSpec("cache:/app")).toEqual({ volume: "cache", guestPath: "/app", readOnly: false });
    expect(parseVolumeSpec("cache:/app:ro")).toEqual({ volume: "cache", guestPath: "/app", readOnly: true });
    expect(parseVolumeSpec("sub/dir:/app", "/w")).toEqual({ hostPath: "/w/sub/dir", guestPath: "/app", readOnly: false });
  });

  test("refuses a mode other than ro or rw, empty parts and too many parts, as usage", () => {
    for (const spec of ["/srv:/data:rx", "/srv:/data:", ":/data", "", "/srv::/data", "/a:/b:ro:x"]) {
      expect(errorOf(() => parseVolumeSpec(spec)).code).toBe("usage");
    }
    expect(() => parseVolumeSpec("/srv:/data:rx")).toThrow(/unknown mode "rx"/);
  });

  test("writes the spelling it reads", () => {
    const volumes: VolumeMount[] = [
      { volume: "cache", guestPath: "/data", readOnly: true },
      { hostPath: "/srv", guestPath: "/data", readOnly: true },
      { hostPath: "/srv", guestPath: "/data", readOnly: false },
      { anonymous: true, guestPath: "/c", readOnly: true },
    ];
    for (const volume of volumes) expect(parseVolumeSpec(volumeSpecOf(volume))).toEqual(volume);
  });
});

describe("checkVolumes", () => {
  const host = (hostPath: string, guestPath: string): VolumeMount => ({ hostPath, guestPath, readOnly: false });

  test("takes a directory, a regular file and anonymous volumes", () => {
    expect(() =>
      checkVolumes([host(dir, "/data"), host(file, "/etc/app.conf"), { anonymous: true, guestPath: "/cache", readOnly: true }], "usage"),
    ).not.toThrow();
  });

  test("refuses a missing host path rather than creating it", () => {
    const missing = join(dir, "nope");
    expect(() => checkVolumes([host(missing, "/data")], "usage")).toThrow(/does not exist/);
    expect(errorOf(() => checkVolumes([host(missing, "/data")], "invalid_argument")).code).toBe("invalid_argument");
  });

  test("refuses a host path that is neither a directory nor a regular file", () => {
    expect(() => checkVolumes([host("/dev/null", "/data")], "usage")).toThrow(/neither a directory nor a regular file/);
  });

  test("refuses a host path this user cannot read", () => {
    const locked = join(dir, "locked");
    mkdirSync(locked);
    chmodSync(locked, 0o000);
    try {
      if (process.getuid?.() !== 0) {
        expect(() => checkVolumes([host(locked, "/data")], "usage")).toThrow(/cannot be read/);
        return;
      }
      // Root reads everything: the check runs in a process without the capabilities that let it.
      const script = `import { checkVolumes } from ${JSON.stringify(join(import.meta.dir, "volumes.ts"))};
        try { checkVolumes([{ hostPath: ${JSON.stringify(locked)}, guestPath: "/data", readOnly: false }], "usage"); console.log("accepted"); }
        catch (error) { console.log(error.message); }`;
      const run = Bun.spawnSync(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", process.execPath, "-e", script], {
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(run.stdout.toString()).toMatch(/cannot be read/);
    } finally {
      chmodSync(locked, 0o700);
    }
  });

  test("refuses a relative host path given to the library", () => {
    expect(() => checkVolumes([host("src", "/data")], "invalid_argument")).toThrow(/not an absolute path/);
  });

  test("refuses a relative box path, the root, and '..'", () => {
    expect(() => checkVolumes([host(dir, "data")], "usage")).toThrow(/must be an absolute path/);
    expect(() => checkVolumes([host(dir, "/")], "usage")).toThrow(/root/);
    expect(() => checkVolumes([host(dir, "//")], "usage")).toThrow(/root/);
    expect(() => checkVolumes([host(dir, "/a/../b")], "usage")).toThrow(/'\.\.'/);
  });

  test("refuses volumes whose box paths are equal or nested, either way round", () => {
    expect(() => checkVolumes([host(dir, "/data"), host(file, "/data/")], "usage")).toThrow(/overlap/);
    expect(() => checkVolumes([host(dir, "/data"), host(file, "/data/x")], "usage")).toThrow(/overlap/);
    expect(() => checkVolumes([host(file, "/data/x"), { anonymous: true, guestPath: "/data", readOnly: false }], "usage")).toThrow(/overlap/);
    expect(() => checkVolumes([host(dir, "/data"), host(file, "/database")], "usage")).not.toThrow();
  });
});
