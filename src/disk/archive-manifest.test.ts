import { describe, expect, test } from "bun:test";
import { isBoxliteError } from "../util/errors.ts";
import { type ArchiveManifest, archiveVersionFor, formatExportedAt, parseManifest, serializeManifest } from "./archive-manifest.ts";

const SUM_A = `sha256:${"a".repeat(64)}`;
const SUM_B = `sha256:${"b".repeat(64)}`;
const encode = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
const valid = {
  version: 3,
  box_name: "web",
  image: "alpine:latest",
  box_options: { cpus: 2 },
  guest_disk_checksum: SUM_A,
  container_disk_checksum: SUM_B,
  exported_at: "2026-07-28T10:00:00.123+00:00",
};

function refusal(bytes: Uint8Array): string {
  try {
    parseManifest(bytes);
  } catch (error) {
    if (!isBoxliteError(error)) throw error;
    return `${error.code}: ${error.message}`;
  }
  throw new Error("the manifest was accepted");
}

describe("archiveVersionFor", () => {
  test("stamps the lowest version that keeps the meaning", () => {
    expect(archiveVersionFor({ hasBoxOptions: false })).toBe(2);
    expect(archiveVersionFor({ hasBoxOptions: true })).toBe(3);
    expect(archiveVersionFor({ hasBoxOptions: true, hasCapabilityPolicy: true })).toBe(4);
    expect(archiveVersionFor({ hasBoxOptions: true, hasPorts: true })).toBe(5);
    expect(archiveVersionFor({ hasBoxOptions: true, hasCapabilityPolicy: true, hasPorts: true })).toBe(5);
    expect(archiveVersionFor({ hasBoxOptions: true, hasPorts: true, hasMemory: true })).toBe(6);
  });

  test("refuses ports or a capability policy without the box options that hold them", () => {
    expect(() => archiveVersionFor({ hasBoxOptions: false, hasPorts: true })).toThrow("must carry the box options");
  });
});

describe("the manifest's bytes", () => {
  test("are serde_json's pretty form, fields in the reference's order", () => {
    const manifest: ArchiveManifest = { ...valid, version: 3, box_name: null };
    const text = new TextDecoder().decode(serializeManifest(manifest));
    expect(text).toBe(
      [
        "{",
        '  "version": 3,',
        '  "box_name": null,',
        '  "image": "alpine:latest",',
        '  "box_options": {',
        '    "cpus": 2',
        "  },",
        `  "guest_disk_checksum": "${SUM_A}",`,
        `  "container_disk_checksum": "${SUM_B}",`,
        '  "exported_at": "2026-07-28T10:00:00.123+00:00"',
        "}",
      ].join("\n"),
    );
  });

  test("leave box_options out when there are none", () => {
    const { box_options: _, ...rest } = valid;
    expect(new TextDecoder().decode(serializeManifest({ ...rest, version: 2 }))).not.toContain("box_options");
  });

  test("date the export as chrono's to_rfc3339 does", () => {
    expect(formatExportedAt(new Date("2026-07-28T10:00:00.000Z"))).toBe("2026-07-28T10:00:00+00:00");
    expect(formatExportedAt(new Date("2026-07-28T10:00:00.250Z"))).toBe("2026-07-28T10:00:00.250+00:00");
  });

  test("read back as they were written", () => {
    expect(parseManifest(serializeManifest({ ...valid, version: 3 }))).toEqual({ ...valid, version: 3 });
  });
});

describe("parseManifest", () => {
  test("reads a v1 manifest without checksums, and ignores unknown fields", () => {
    const manifest = parseManifest(encode({ version: 1, image: "alpine", guest_disk_checksum: "", container_disk_checksum: "", exported_at: "x", extra: 1 }));
    expect(manifest).toEqual({ version: 1, box_name: null, image: "alpine", guest_disk_checksum: "", container_disk_checksum: "", exported_at: "x" });
  });

  test("refuses what is not JSON", () => expect(refusal(encode("{not json"))).toStartWith("invalid_argument: invalid archive: manifest.json is not JSON"));
  test("refuses bytes that are not UTF-8", () => expect(refusal(Uint8Array.of(0x7b, 0xff, 0x7d))).toContain("is not JSON"));
  test("refuses JSON that is not an object", () => expect(refusal(encode([1, 2]))).toContain("is not a JSON object"));

  test.each(["image", "exported_at", "container_disk_checksum", "guest_disk_checksum"])("refuses a manifest without %s", (field) => {
    const copy: Record<string, unknown> = { ...valid };
    delete copy[field];
    expect(refusal(encode(copy))).toContain(`"${field}"`);
  });

  test.each([0, -1, 2.5, "3", null])("refuses the version %p", (version) => {
    expect(refusal(encode({ ...valid, version }))).toContain('no valid "version"');
  });

  test("names an unknown version and says to upgrade boxlite", () => {
    expect(refusal(encode({ ...valid, version: 7 }))).toBe(
      "unsupported: archive version 7 is newer than this boxlite reads (1 to 6); upgrade boxlite to import it",
    );
  });

  test("refuses a v2+ manifest without a container checksum", () => {
    expect(refusal(encode({ ...valid, version: 2, box_options: undefined, container_disk_checksum: "" }))).toContain('"container_disk_checksum"');
  });

  test("refuses a checksum that is not sha256:<hex>", () => {
    expect(refusal(encode({ ...valid, guest_disk_checksum: `md5:${"a".repeat(32)}` }))).toContain('not "sha256:<64 hex digits>"');
    expect(refusal(encode({ ...valid, container_disk_checksum: `sha256:${"A".repeat(64)}` }))).toContain('"container_disk_checksum"');
  });

  test("refuses box_options in a manifest that claims a version before 3", () => {
    expect(refusal(encode({ ...valid, version: 2 }))).toContain('claims version 2 but carries "box_options"');
  });

  test("refuses fields of the wrong type", () => {
    expect(refusal(encode({ ...valid, box_name: 7 }))).toContain('"box_name"');
    expect(refusal(encode({ ...valid, box_options: [1] }))).toContain('"box_options"');
    expect(refusal(encode({ ...valid, image: "" }))).toContain('"image"');
  });
});

describe("a suspended box's memory (v6)", () => {
  const memory = { format: 1, vmm: "qemu" };
  const withMemory = { ...valid, version: 6, memory, memory_checksum: SUM_A };

  test("is read back with its checksum, and written after the reference's fields", () => {
    expect(parseManifest(serializeManifest(withMemory as ArchiveManifest))).toEqual(withMemory as ArchiveManifest);
    const text = new TextDecoder().decode(serializeManifest(withMemory as ArchiveManifest));
    expect(text.indexOf('"memory"')).toBeGreaterThan(text.indexOf('"exported_at"'));
  });

  test("is refused in a manifest that claims an older version, and v6 without it", () => {
    expect(refusal(encode({ ...withMemory, version: 5 }))).toContain('claims version 5 but carries "memory"');
    expect(refusal(encode({ ...valid, version: 6 }))).toContain('claims version 6 but carries no "memory"');
  });

  test("needs an object and a sha256 checksum", () => {
    expect(refusal(encode({ ...withMemory, memory: "x" }))).toContain('"memory" is not an object');
    expect(refusal(encode({ ...withMemory, memory_checksum: undefined }))).toContain('"memory_checksum"');
    expect(refusal(encode({ ...withMemory, memory_checksum: "" }))).toContain('"memory_checksum" is empty');
    expect(refusal(encode({ ...withMemory, memory_checksum: "sha256:12" }))).toContain('"memory_checksum"');
  });
});
