/**
 * Reads an image from a `docker save` archive (the format skopeo writes for
 * `docker-archive:`): a tar file, or the same extracted to a directory, holding
 * `manifest.json` = `[{Config, RepoTags, Layers}]` with Config and Layers as member paths.
 * Docker archives have no manifest digest, so one is synthesized from the content.
 */
import { BoxliteError } from "../util/errors.ts";
import type { LocalImage, LocalLayer } from "./local.ts";
import { type ArchiveMember, type ArchiveReader, directoryReader, tarReader } from "./local-archive-reader.ts";
import { digestInName, hashStream, localCacheKey, memberSegments, readDocument, sha256Digest, verifiedStream } from "./local-blob.ts";
import { parseImageConfig } from "./oci.ts";

/** One entry of manifest.json. */
interface ArchiveEntry {
  config: string;
  repoTags: string[];
  layers: string[];
}

function parseManifestJson(bytes: Uint8Array, what: string): ArchiveEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new BoxliteError("invalid_argument", `${what} is not JSON (${(error as Error).message}); the archive is damaged — re-create it`);
  }
  const bad = (why: string) => new BoxliteError("invalid_argument", `${what} is not a docker save manifest: ${why}`);
  if (!Array.isArray(raw) || raw.length === 0) throw bad("expected a non-empty list of images");
  return raw.map((item: unknown, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) throw bad(`entry ${i} is not an object`);
    const entry = item as Record<string, unknown>;
    const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((s) => typeof s === "string");
    if (typeof entry.Config !== "string") throw bad(`entry ${i} has no Config path`);
    if (!isStrings(entry.Layers)) throw bad(`entry ${i} has no Layers list`);
    const repoTags = entry.RepoTags === null || entry.RepoTags === undefined ? [] : entry.RepoTags;
    if (!isStrings(repoTags)) throw bad(`entry ${i} has a RepoTags that is not a list of names`);
    return { config: entry.Config, repoTags, layers: entry.Layers };
  });
}

/** `busybox` → `busybox:latest`, `docker.io/library/busybox:1` → `busybox:1`: how docker and skopeo spell one name. */
function normalizeTag(name: string): string {
  const lastSlash = name.lastIndexOf("/");
  const tagged = name.includes(":", lastSlash + 1) || name.includes("@") ? name : `${name}:latest`;
  return tagged.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "");
}

function chooseEntry(entries: ArchiveEntry[], tag: string | undefined, where: string): ArchiveEntry {
  const tags = entries.flatMap((entry) => entry.repoTags);
  const listed = tags.length > 0 ? tags.join(", ") : "none";
  if (tag === undefined) {
    if (entries.length === 1) return entries[0] as ArchiveEntry;
    throw new BoxliteError("invalid_argument", `${where} holds ${entries.length} images (tags: ${listed}); name one as docker-archive:${where}:NAME:TAG`);
  }
  const wanted = normalizeTag(tag);
  const found = entries.find((entry) => entry.repoTags.some((name) => normalizeTag(name) === wanted));
  if (found) return found;
  throw new BoxliteError("image_not_found", `${where} has no image tagged ${JSON.stringify(tag)} (tags: ${listed}); use one of those`);
}

async function requireMember(reader: ArchiveReader, path: string, what: string, where: string): Promise<ArchiveMember> {
  const member = await reader.member(memberSegments(path, `${where} ${what}`), `${where} ${what}`);
  if (member === undefined)
    throw new BoxliteError("not_found", `${where} has no member ${path} (manifest.json names it as the ${what}); the archive is incomplete — re-create it`);
  return member;
}

/** The digest a member must hash to: from its name when it carries one (checked while streaming), else computed now. */
async function memberDigest(member: ArchiveMember, declaredPath: string): Promise<string> {
  const named = digestInName(member.path) ?? digestInName(declaredPath);
  if (named !== undefined) return named;
  // Old docker save names layers <id>/layer.tar, an id that is not the content hash: read it once to learn it.
  return (await hashStream(member.blob().stream())).digest;
}

/** Opens the docker archive (tar file or directory) at the absolute `path`. */
export async function openDockerArchive(path: string, isDirectory: boolean, tag: string | undefined): Promise<LocalImage> {
  const where = isDirectory ? `docker archive directory ${path}` : `docker archive ${path}`;
  const reader = isDirectory ? await directoryReader(path) : await tarReader(path);
  const manifestMember = await reader.member(["manifest.json"], `${where} manifest.json`);
  if (manifestMember === undefined) {
    throw new BoxliteError(
      "invalid_argument",
      `${where} has no manifest.json, so it is not a docker save archive; create one with docker save or skopeo copy … docker-archive:PATH (a tarred OCI layout must be extracted and given as a directory)`,
    );
  }
  const entries = parseManifestJson(await readDocument(manifestMember.blob(), manifestMember.size, `${where} manifest.json`), `${where} manifest.json`);
  const entry = chooseEntry(entries, tag, path);

  const configMember = await requireMember(reader, entry.config, "image config", where);
  const configBytes = await readDocument(configMember.blob(), configMember.size, `${where} config ${entry.config}`);
  const configDigest = sha256Digest(configBytes);
  const namedConfig = digestInName(configMember.path);
  if (namedConfig !== undefined && namedConfig !== configDigest) {
    throw new BoxliteError(
      "invalid_argument",
      `${where}: the config ${entry.config} hashes to ${configDigest}, not the digest in its name; the archive is corrupt — re-create it`,
    );
  }
  const config = parseImageConfig(configBytes, `${where} config ${entry.config}`);
  if (config.diffIds.length !== entry.layers.length) {
    throw new BoxliteError(
      "invalid_argument",
      `${where}: the config lists ${config.diffIds.length} rootfs.diff_ids but manifest.json lists ${entry.layers.length} layers; the archive is inconsistent — re-create it`,
    );
  }

  const layers: LocalLayer[] = [];
  for (const [i, layerPath] of entry.layers.entries()) {
    const member = await requireMember(reader, layerPath, `layer ${i + 1}`, where);
    const digest = await memberDigest(member, layerPath);
    const source = `docker-archive:${path} layer ${i + 1} (${layerPath})`;
    const expected = { digest, size: member.size };
    layers.push({
      source,
      digest,
      diffId: config.diffIds[i] as string,
      size: member.size,
      open: () => verifiedStream(() => member.blob().stream(), expected, source),
    });
  }
  // The entry with its paths replaced by content digests, keys in a fixed order: stable for
  // the same archive, and different whenever a byte of the image changes.
  const canonical = JSON.stringify({ Config: configDigest, Layers: layers.map((layer) => layer.digest) });
  const manifestDigest = sha256Digest(canonical);
  return { kind: "docker-archive", path, manifestDigest, configDigest, config, layers, cacheKey: localCacheKey(path, manifestDigest) };
}
