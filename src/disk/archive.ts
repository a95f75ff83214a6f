/**
 * The `.boxlite` archive of an exported box (docs/archive.md): a zstd-compressed tar of
 * manifest.json, disk.qcow2, guest-rootfs.qcow2 and a suspended box's memory.state. The runtime hands in flattened disks to
 * write, and a staging directory to read into; this module touches no VM and no database.
 */
export {
  type ArchiveFeatures,
  type ArchiveManifest,
  type ArchiveVersion,
  archiveVersionFor,
  CONTAINER_DISK_ENTRY,
  GUEST_DISK_ENTRY,
  MANIFEST_ENTRY,
  MAX_ARCHIVE_VERSION,
  MAX_MANIFEST_BYTES,
  MEMORY_STATE_ENTRY,
} from "./archive-manifest.ts";
export { type ReadArchiveLimits, type ReadArchiveResult, readArchive } from "./archive-read.ts";
export { type ArchiveHooks, type ChainSource, sweepStaleTemps, type WriteArchiveOptions, type WriteArchiveResult, writeArchive } from "./archive-write.ts";
