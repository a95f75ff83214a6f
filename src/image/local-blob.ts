/**
 * Helpers shared by the local image readers (local-oci.ts, local-archive.ts): hashing,
 * streams verified against a digest, bounded reads of small JSON documents, member paths
 * that cannot leave their archive, and the cache key of a local image.
 */
import { BoxliteError } from "../util/errors.ts";

/** Largest manifest, index or config read into memory; real ones are a few KiB. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** `sha256:<hex>` of `bytes`. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** A digest shortened for messages: `sha256:` and 12 hex digits. */
export function shortDigest(digest: string): string {
  return `${digest.slice(0, "sha256:".length + 12)}…`;
}

/** `<sha256(path) first 8 hex>-<manifest digest first 8 hex>`: the images/local/ directory name. */
export function localCacheKey(path: string, manifestDigest: string): string {
  const pathHash = sha256Digest(path).slice("sha256:".length, "sha256:".length + 8);
  return `${pathHash}-${manifestDigest.slice("sha256:".length, "sha256:".length + 8)}`;
}

/** The digest a file name carries (`<hex>`, `<hex>.tar`, `<hex>.json`, as docker save and skopeo name blobs). */
export function digestInName(path: string): string | undefined {
  const match = /(?:^|\/)([a-f0-9]{64})(?:\.tar|\.json)?$/.exec(path);
  return match ? `sha256:${match[1]}` : undefined;
}

/**
 * Splits a member path from manifest.json into segments. Absolute paths and `..` are
 * refused: an archive names its own members, and anything else would read host files.
 */
export function memberSegments(path: string, what: string): string[] {
  if (path === "" || path.startsWith("/") || path.includes("\\") || path.includes("\0")) {
    throw new BoxliteError(
      "invalid_argument",
      `${what}: member path ${JSON.stringify(path)} is not a relative path inside the archive; the archive is malformed or hostile — re-create it with docker save or skopeo`,
    );
  }
  const segments = path.split("/").filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..") || segments.length === 0) {
    throw new BoxliteError(
      "invalid_argument",
      `${what}: member path ${JSON.stringify(path)} escapes the archive; the archive is malformed or hostile — re-create it with docker save or skopeo`,
    );
  }
  return segments;
}

/** Reads a small document whole, refusing one past MAX_DOCUMENT_BYTES before reading it. */
export async function readDocument(blob: Blob, size: number, what: string): Promise<Uint8Array> {
  if (size > MAX_DOCUMENT_BYTES)
    throw new BoxliteError(
      "invalid_argument",
      `${what} is ${size} bytes, more than the ${MAX_DOCUMENT_BYTES} a manifest or config may be; the image is malformed`,
    );
  return new Uint8Array(await blob.arrayBuffer());
}

/** Reads a document and checks it against the digest and size that name it. */
export async function readVerifiedDocument(blob: Blob, expected: { digest: string; size: number }, what: string): Promise<Uint8Array> {
  if (blob.size !== expected.size) {
    throw new BoxliteError(
      "invalid_argument",
      `${what} is corrupt: it is ${blob.size} bytes, not the ${expected.size} its descriptor declares; re-copy the image`,
    );
  }
  const bytes = await readDocument(blob, blob.size, what);
  const actual = sha256Digest(bytes);
  if (actual !== expected.digest)
    throw new BoxliteError("invalid_argument", `${what} is corrupt: it hashes to ${actual}, not ${expected.digest}; re-copy the image`);
  return bytes;
}

/** Hashes a stream without holding it (for archive members whose name carries no digest). */
export async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<{ digest: string; size: number }> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hasher.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hasher.digest("hex")}`, size };
}

/**
 * Passes a blob's bytes through while hashing them; at the end (or as soon as there are
 * too many bytes) throws "invalid_argument" if they are not `size` bytes hashing to
 * `digest`. The consumer has then seen unverified bytes, so it must discard its output.
 */
export async function* verifiedStream(
  open: () => AsyncIterable<Uint8Array>,
  expected: { digest: string; size: number },
  source: string,
): AsyncGenerator<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  try {
    for await (const chunk of open()) {
      size += chunk.length;
      if (size > expected.size) break;
      hasher.update(chunk);
      yield chunk;
    }
  } catch (error) {
    if (error instanceof BoxliteError) throw error;
    const code = (error as NodeJS.ErrnoException).code === "ENOENT" ? "not_found" : "invalid_argument";
    throw new BoxliteError(code, `${source}: cannot read the blob ${expected.digest}: ${(error as Error).message}`, { cause: error });
  }
  if (size !== expected.size) {
    throw new BoxliteError(
      "invalid_argument",
      `${source}: the blob ${expected.digest} is ${size > expected.size ? "longer" : "shorter"} than the ${expected.size} bytes the image declares; the image is corrupt — re-copy it`,
    );
  }
  const actual = `sha256:${hasher.digest("hex")}`;
  if (actual !== expected.digest) {
    throw new BoxliteError("invalid_argument", `${source}: the blob hashes to ${actual}, not ${expected.digest}; the image is corrupt — re-copy it`);
  }
}
