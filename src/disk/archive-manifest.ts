/**
 * The `manifest.json` of a `.boxlite` archive: its versions, how an export picks one, and
 * the strict reading of an untrusted one. The JSON matches what the reference writes.
 */
import { BoxliteError } from "../util/errors.ts";

/** Member names inside an archive. */
export const MANIFEST_ENTRY = "manifest.json";
export const CONTAINER_DISK_ENTRY = "disk.qcow2";
export const GUEST_DISK_ENTRY = "guest-rootfs.qcow2";
/** boxlite's own member (v6): a suspended box's saved VM state (docs/suspend.md). */
export const MEMORY_STATE_ENTRY = "memory.state";

/**
 * 1: plain tar, no checksums. 2: tar.zst with checksums. 3: adds `box_options`.
 * 4: `box_options` carries a capability policy. 5: its ports carry publication semantics.
 * 6 (boxlite's own): it carries a suspended box's memory, which an importer that cannot
 * resume it would silently drop, throwing the box's processes away.
 */
export type ArchiveVersion = 1 | 2 | 3 | 4 | 5 | 6;
export const MAX_ARCHIVE_VERSION: ArchiveVersion = 6;

/** The most bytes a manifest may hold: real ones are a few KiB of options. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** manifest.json, with the reference's field names. */
export interface ArchiveManifest {
  version: ArchiveVersion;
  box_name: string | null;
  image: string;
  /** The box's options (v3+), opaque here: the runtime owns their shape. */
  box_options?: Record<string, unknown>;
  /** "sha256:<hex>", or "" in a v1 archive (and for a guest disk the archive does not carry). */
  guest_disk_checksum: string;
  container_disk_checksum: string;
  /** RFC 3339, as chrono's `to_rfc3339` writes it. */
  exported_at: string;
  /**
   * boxlite's own addition: the image's config (entrypoint, cmd, env, ...) as the box was
   * created from it, so an import boots without the image's registry. The reference's serde
   * ignores unknown fields; an archive without it gets the config from the image itself.
   */
  image_config?: Record<string, unknown>;
  /**
   * v6: the suspended box's saved-state manifest (opaque here: the runtime owns its shape,
   * docs/suspend.md), and the checksum of the `memory.state` member it describes.
   */
  memory?: Record<string, unknown>;
  memory_checksum?: string;
}

/** Which parts of a box's configuration an export carries; each may raise the version. */
export interface ArchiveFeatures {
  hasBoxOptions: boolean;
  hasCapabilityPolicy?: boolean;
  hasPorts?: boolean;
  /** A suspended box's memory (v6). */
  hasMemory?: boolean;
}

/**
 * The lowest version that keeps the export's meaning, so an older importer refuses the
 * archive instead of silently dropping what it cannot represent. A capability policy or
 * ports live inside the box options, so they need them.
 */
export function archiveVersionFor(features: ArchiveFeatures): ArchiveVersion {
  if ((features.hasCapabilityPolicy || features.hasPorts) && !features.hasBoxOptions)
    throw new BoxliteError("internal", "an archive with a capability policy or ports must carry the box options");
  if (features.hasMemory) return 6;
  if (features.hasPorts) return 5;
  if (features.hasCapabilityPolicy) return 4;
  return features.hasBoxOptions ? 3 : 2;
}

/** chrono's RFC 3339 in UTC: "+00:00" for Z, and a fraction only when there is one. */
export function formatExportedAt(date: Date): string {
  const iso = date.toISOString();
  const trimmed = date.getUTCMilliseconds() === 0 ? iso.replace(/\.\d{3}Z$/, "Z") : iso;
  return trimmed.replace(/Z$/, "+00:00");
}

/** The manifest's bytes: serde_json's pretty form (two-space indent, fields in this order). */
export function serializeManifest(manifest: ArchiveManifest): Uint8Array {
  const ordered = {
    version: manifest.version,
    box_name: manifest.box_name,
    image: manifest.image,
    ...(manifest.box_options === undefined ? {} : { box_options: manifest.box_options }),
    guest_disk_checksum: manifest.guest_disk_checksum,
    container_disk_checksum: manifest.container_disk_checksum,
    exported_at: manifest.exported_at,
    ...(manifest.image_config === undefined ? {} : { image_config: manifest.image_config }),
    ...(manifest.memory === undefined ? {} : { memory: manifest.memory, memory_checksum: manifest.memory_checksum }),
  };
  return new TextEncoder().encode(JSON.stringify(ordered, null, 2));
}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

function refuse(detail: string): BoxliteError {
  return new BoxliteError("invalid_argument", `invalid archive: manifest.json ${detail}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readChecksum(fields: Record<string, unknown>, key: string, version: number): string {
  const value = fields[key];
  if (typeof value !== "string") throw refuse(`lacks the string field "${key}"`);
  if (value === "" ? version >= 2 && key === "container_disk_checksum" : !CHECKSUM.test(value))
    throw refuse(`field "${key}" is ${JSON.stringify(value.slice(0, 80))}, not "sha256:<64 hex digits>"`);
  return value;
}

function readVersion(value: unknown): ArchiveVersion {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw refuse(`has no valid "version" (${JSON.stringify(value)})`);
  if (value > MAX_ARCHIVE_VERSION)
    throw new BoxliteError(
      "unsupported",
      `archive version ${value} is newer than this boxlite reads (1 to ${MAX_ARCHIVE_VERSION}); upgrade boxlite to import it`,
    );
  return value as ArchiveVersion;
}

/**
 * Parses and checks an untrusted manifest. Unknown fields are ignored (as serde does); the
 * known ones must have their types, and a version's claims must hold: checksums from v2,
 * `box_options` only from v3, `memory` (with its checksum) in v6 and only there.
 */
export function parseManifest(bytes: Uint8Array): ArchiveManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new BoxliteError("invalid_argument", `invalid archive: manifest.json is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isRecord(parsed)) throw refuse("is not a JSON object");
  const version = readVersion(parsed.version);
  const { box_name: boxName, image, box_options: boxOptions, exported_at: exportedAt } = parsed;
  if (boxName !== undefined && boxName !== null && typeof boxName !== "string") throw refuse(`field "box_name" is not a string`);
  if (typeof image !== "string" || image === "") throw refuse(`lacks the string field "image"`);
  if (typeof exportedAt !== "string") throw refuse(`lacks the string field "exported_at"`);
  if (boxOptions !== undefined && boxOptions !== null) {
    if (!isRecord(boxOptions)) throw refuse(`field "box_options" is not an object`);
    if (version < 3) throw refuse(`claims version ${version} but carries "box_options", which came in version 3`);
  }
  const manifest: ArchiveManifest = {
    version,
    box_name: boxName ?? null,
    image,
    guest_disk_checksum: readChecksum(parsed, "guest_disk_checksum", version),
    container_disk_checksum: readChecksum(parsed, "container_disk_checksum", version),
    exported_at: exportedAt,
  };
  if (isRecord(boxOptions)) manifest.box_options = boxOptions;
  const imageConfig = parsed.image_config;
  if (imageConfig !== undefined && imageConfig !== null) {
    if (!isRecord(imageConfig)) throw refuse(`field "image_config" is not an object`);
    manifest.image_config = imageConfig;
  }
  readMemory(parsed, version, manifest);
  return manifest;
}

/** The v6 fields: a memory record and its member's checksum, both or neither, and only in v6. */
function readMemory(parsed: Record<string, unknown>, version: ArchiveVersion, manifest: ArchiveManifest): void {
  const { memory } = parsed;
  const carries = memory !== undefined && memory !== null;
  if (carries !== (version === 6))
    throw refuse(carries ? `claims version ${version} but carries "memory", which came in version 6` : `claims version 6 but carries no "memory"`);
  if (!carries) return;
  if (!isRecord(memory)) throw refuse(`field "memory" is not an object`);
  const checksum = readChecksum(parsed, "memory_checksum", version);
  if (checksum === "") throw refuse(`field "memory_checksum" is empty`);
  manifest.memory = memory;
  manifest.memory_checksum = checksum;
}
