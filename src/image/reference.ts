/**
 * Image references with docker's normalization: `alpine` is
 * `docker.io/library/alpine:latest`; `host:port/repo:tag` and `repo@sha256:…` are
 * kept as given (grammar: distribution/reference).
 */
import { BoxliteError } from "../util/errors.ts";

export interface ImageReference {
  /** Registry host, with port when given (`docker.io` for Docker Hub). */
  registry: string;
  /** Repository path within the registry (`library/alpine`). */
  repository: string;
  /** Tag, `latest` when neither a tag nor a digest was given. */
  tag?: string;
  /** `sha256:<64 hex>` when pinned by digest. */
  digest?: string;
}

export const DOCKER_HUB = "docker.io";
const HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/;

function invalid(reference: string, why: string): BoxliteError {
  return new BoxliteError("invalid_argument", `invalid image reference ${JSON.stringify(reference)}: ${why}`);
}

/** A first path component names a registry when it looks like a host (a dot, a port, or localhost). */
function isRegistryHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost" || component.startsWith("[");
}

export function parseReference(reference: string): ImageReference {
  if (reference === "" || reference.length > 255 * 2) throw invalid(reference, "empty or too long");
  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(reference, "a digest is sha256: and 64 lowercase hex digits");
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(reference, `tag ${JSON.stringify(tag)} may hold letters, digits, _ . - (up to 128, not starting with . or -)`);
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isRegistryHost(parts[0] as string)) {
    registry = parts.shift() as string;
    if (!HOST.test(registry)) throw invalid(reference, `registry ${JSON.stringify(registry)} is not a host[:port]`);
  }
  if (HUB_ALIASES.has(registry)) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((part) => !COMPONENT.test(part))) {
    throw invalid(reference, "repository names are lowercase letters, digits and separators (. _ __ -) between them");
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const parsed: ImageReference = { registry, repository: parts.join("/") };
  if (tag !== undefined || digest === undefined) parsed.tag = tag ?? "latest";
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

/** The canonical text: `registry/repository[:tag][@digest]`. */
export function formatReference(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}${reference.tag ? `:${reference.tag}` : ""}${reference.digest ? `@${reference.digest}` : ""}`;
}
