/**
 * `image_index`: which manifest, config and layers an image reference resolved to, and
 * whether all its layers are on disk. `layers` is a JSON array of digests, `cached_at`
 * an RFC 3339 timestamp, `complete` 0 or 1 (the reference's CachedImage).
 */
import type { Database } from "bun:sqlite";
import { corrupt } from "./json.ts";

export interface ImageIndexEntry {
  /** As the user wrote it ("alpine:latest", "docker.io/library/alpine:3.20"). */
  reference: string;
  /** For a multi-platform image: this platform's manifest. */
  manifestDigest: string;
  configDigest: string;
  /** Layer digests, bottom first. */
  layers: string[];
  /** RFC 3339. */
  cachedAt: string;
  /** All layers downloaded. */
  complete: boolean;
}

interface ImageRow {
  reference: string;
  manifest_digest: string;
  config_digest: string;
  layers: string;
  cached_at: string;
  complete: number;
}

const COLUMNS = "SELECT reference, manifest_digest, config_digest, layers, cached_at, complete FROM image_index";

function toEntry(row: ImageRow): ImageIndexEntry {
  const what = `image_index row for ${row.reference}`;
  let layers: unknown;
  try {
    layers = JSON.parse(row.layers);
  } catch {
    throw corrupt(what, "layers is not valid JSON");
  }
  if (!Array.isArray(layers) || !layers.every((layer) => typeof layer === "string")) {
    throw corrupt(what, "layers is not a list of digests");
  }
  return {
    reference: row.reference,
    manifestDigest: row.manifest_digest,
    configDigest: row.config_digest,
    layers,
    cachedAt: row.cached_at,
    complete: row.complete !== 0,
  };
}

/** Adds or replaces the entry for `entry.reference`. */
export function putImage(db: Database, entry: ImageIndexEntry): void {
  db.query(
    `INSERT INTO image_index (reference, manifest_digest, config_digest, layers, cached_at, complete)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT(reference) DO UPDATE SET
       manifest_digest = excluded.manifest_digest, config_digest = excluded.config_digest,
       layers = excluded.layers, cached_at = excluded.cached_at, complete = excluded.complete`,
  ).run(entry.reference, entry.manifestDigest, entry.configDigest, JSON.stringify(entry.layers), entry.cachedAt, entry.complete ? 1 : 0);
}

export function getImage(db: Database, reference: string): ImageIndexEntry | undefined {
  const row = db.query<ImageRow, [string]>(`${COLUMNS} WHERE reference = ?1`).get(reference);
  return row === null ? undefined : toEntry(row);
}

/** Every entry, most recently cached first. */
export function listImages(db: Database): ImageIndexEntry[] {
  return db.query<ImageRow, []>(`${COLUMNS} ORDER BY cached_at DESC`).all().map(toEntry);
}

/** The references that resolved to one manifest (tags sharing an image). */
export function findImagesByManifest(db: Database, manifestDigest: string): ImageIndexEntry[] {
  return db.query<ImageRow, [string]>(`${COLUMNS} WHERE manifest_digest = ?1 ORDER BY reference`).all(manifestDigest).map(toEntry);
}

export function deleteImage(db: Database, reference: string): boolean {
  return db.query("DELETE FROM image_index WHERE reference = ?1").run(reference).changes > 0;
}
