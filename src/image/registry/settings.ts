/**
 * Which registries boxlite talks to, and how: `--registry` flags and the `image_registries`
 * of the JSON config file (the reference's BoxliteOptions), the search order for
 * unqualified references, and credentials from Docker's config.json.
 */
import { readFileSync } from "node:fs";
import { BoxliteError } from "../../util/errors.ts";
import { DOCKER_HUB, type ImageReference, parseReference } from "../reference.ts";

/** How to authenticate to a registry; `anonymous` never sends credentials, not even Docker's. */
export type RegistryAuth = { type: "anonymous" } | { type: "basic"; username: string; password: string } | { type: "bearer"; token: string };

/** One registry entry (`image_registries[i]` of the config file, or a `--registry` flag). */
export interface RegistrySettings {
  /** `host[:port]`, no scheme. */
  host: string;
  transport: "https" | "http";
  /** Accept any TLS certificate (self-signed registries you trust). */
  skipVerify: boolean;
  /** Try unqualified references (`alpine`) against this registry. */
  search: boolean;
  auth?: RegistryAuth;
}

// Docker Hub answers to several names; its credentials live under this key in config.json.
const HUB_NAMES = new Set([DOCKER_HUB, "index.docker.io", "registry-1.docker.io"]);
const HUB_CONFIG_KEY = "https://index.docker.io/v1/";
// host[:port] or [v6]:port, without scheme or path (reference.ts has the same grammar).
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$|^\[[0-9a-fA-F:]+\](?::\d+)?$/;
const ENTRY_KEYS = ["host", "transport", "skip_verify", "search", "auth"];

/** The one name a registry host is compared by (Docker Hub's aliases are one registry). */
export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return HUB_NAMES.has(lower) ? DOCKER_HUB : lower;
}

function notAHost(host: string): string {
  return `registry host ${JSON.stringify(host)} is not host[:port] (no scheme or path; a plain-HTTP registry is an image_registries entry with transport "http")`;
}

/**
 * Registries in order: each `--registry HOST` (https, search=true) first, then the JSON
 * config file's `image_registries` (the reference's BoxliteOptions file: [{host,
 * transport?: "https"|"http", skip_verify?, search?, auth?: {type:"anonymous"} |
 * {type:"basic", username, password} | {type:"bearer", token}}]). `search` and
 * `skip_verify` default to false, `transport` to https. Bad file →
 * BoxliteError("invalid_argument") naming the file and the field.
 */
export function loadRegistrySettings(input: { configFile?: string; registryFlags?: string[] }): RegistrySettings[] {
  const settings: RegistrySettings[] = [];
  for (const host of input.registryFlags ?? []) {
    if (!HOST.test(host)) throw new BoxliteError("invalid_argument", `--registry: ${notAHost(host)}`);
    settings.push({ host, transport: isLoopback(host) ? "http" : "https", skipVerify: false, search: true });
  }
  if (input.configFile !== undefined) settings.push(...readConfigFile(input.configFile));
  return settings;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function readConfigFile(path: string): RegistrySettings[] {
  const fail = (why: string) => new BoxliteError("invalid_argument", `config file ${path}: ${why}`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new BoxliteError("invalid_argument", `config file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw fail(`not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(raw)) throw fail('the top level must be a JSON object like {"image_registries": [...]}');
  const list = raw.image_registries;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw fail("image_registries must be a list of registries");
  return list.map((entry, i) => parseEntry(entry, `image_registries[${i}]`, fail));
}

function parseEntry(entry: unknown, field: string, fail: (why: string) => BoxliteError): RegistrySettings {
  if (!isObject(entry)) throw fail(`${field} must be an object like {"host": "registry.example.com"}`);
  // Unknown keys are refused: a misspelt skip_verify or transport would otherwise be silently ignored.
  const unknown = Object.keys(entry).filter((key) => !ENTRY_KEYS.includes(key));
  if (unknown.length > 0)
    throw fail(`${field} has unknown field ${unknown.map((key) => JSON.stringify(key)).join(", ")}; the fields are ${ENTRY_KEYS.join(", ")}`);
  const { host, transport, skip_verify: skipVerify, search } = entry;
  if (typeof host !== "string" || host === "") throw fail(`${field}.host must be a registry host like "registry.example.com:5000"`);
  if (!HOST.test(host)) throw fail(`${field}.host: ${notAHost(host)}`);
  if (transport !== undefined && transport !== "https" && transport !== "http")
    throw fail(`${field}.transport must be "https" or "http", not ${JSON.stringify(transport)}`);
  if (skipVerify !== undefined && typeof skipVerify !== "boolean") throw fail(`${field}.skip_verify must be true or false`);
  if (search !== undefined && typeof search !== "boolean") throw fail(`${field}.search must be true or false`);
  const settings: RegistrySettings = { host, transport: transport ?? "https", skipVerify: skipVerify ?? false, search: search ?? false };
  if (entry.auth !== undefined && entry.auth !== null) settings.auth = parseAuth(entry.auth, `${field}.auth`, fail);
  return settings;
}

function parseAuth(auth: unknown, field: string, fail: (why: string) => BoxliteError): RegistryAuth {
  const shapes = `{"type": "anonymous"}, {"type": "basic", "username", "password"} or {"type": "bearer", "token"}`;
  if (!isObject(auth)) throw fail(`${field} must be ${shapes}`);
  const text = (key: string): string => {
    const value = auth[key];
    if (typeof value !== "string" || value === "") throw fail(`${field}.${key} must be a non-empty string`);
    return value;
  };
  if (auth.type === "anonymous") return { type: "anonymous" };
  if (auth.type === "basic") return { type: "basic", username: text("username"), password: text("password") };
  if (auth.type === "bearer") return { type: "bearer", token: text("token") };
  throw fail(`${field}.type must be "anonymous", "basic" or "bearer", not ${JSON.stringify(auth.type)} (${shapes})`);
}

/** The settings entry for `host`, else https defaults (no search, no auth). */
export function settingsFor(host: string, settings: RegistrySettings[]): RegistrySettings {
  const wanted = canonicalHost(host);
  return (
    settings.find((entry) => canonicalHost(entry.host) === wanted) ?? { host, transport: isLoopback(host) ? "http" : "https", skipVerify: false, search: false }
  );
}

/**
 * Docker treats registries on the loopback interface as insecure by default (plain HTTP
 * allowed): traffic that never leaves the host has nothing to protect in transit. An
 * unconfigured loopback registry is therefore spoken to over http; a config entry says otherwise.
 */
export function isLoopback(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * Where to look for a reference: a fully qualified one (registry given explicitly in the
 * text, e.g. `127.0.0.1:5000/x`, `docker.io/library/alpine`) → that registry only (its
 * matching settings entry, else https defaults, http on loopback); an unqualified one (`alpine`,
 * `team/app`) → each search=true registry in order, then docker.io when none is
 * configured. Each candidate carries the parsed ImageReference for that registry
 * (docker.io adds `library/` for one-component names, other registries do not).
 * Malformed text → BoxliteError("invalid_argument") from parseReference.
 */
export function candidatesFor(text: string, settings: RegistrySettings[]): Array<{ settings: RegistrySettings; reference: ImageReference }> {
  const parsed = parseReference(text);
  // parseReference treats a first component with a dot, a port or "localhost" as a host;
  // Docker Hub's names all have a dot, so a non-hub registry or a dotted first component is explicit.
  const first = text.split("/")[0] as string;
  const qualified = parsed.registry !== DOCKER_HUB || (text.includes("/") && first.includes("."));
  if (qualified) return [{ settings: settingsFor(parsed.registry, settings), reference: parsed }];
  const searched = settings.filter((entry) => entry.search);
  const registries = searched.length > 0 ? searched : [settingsFor(DOCKER_HUB, settings)];
  return registries.map((entry) => ({ settings: entry, reference: referenceOn(entry.host, parsed, text) }));
}

/** `parsed` (an unqualified reference read as Docker Hub's) as it is named on `host`. */
function referenceOn(host: string, parsed: ImageReference, text: string): ImageReference {
  if (canonicalHost(host) === DOCKER_HUB) return { ...parsed, registry: DOCKER_HUB };
  // Only Docker Hub puts one-component names under library/.
  const repository = text.includes("/") ? parsed.repository : parsed.repository.slice("library/".length);
  return { ...parsed, registry: host, repository };
}

/**
 * Credentials for a host from a docker config.json (`auths[host].auth` = base64
 * "user:pass", or `username`/`password`; Docker Hub's key is
 * "https://index.docker.io/v1/"; keys may carry a scheme and path, as `docker login`
 * writes them). Missing file → undefined; an unreadable or malformed file →
 * BoxliteError("invalid_argument") naming it. Credential helpers (credsStore,
 * credHelpers) are not consulted.
 */
export function dockerCredentials(host: string, dockerConfigPath: string): { username: string; password: string } | undefined {
  let text: string;
  try {
    text = readFileSync(dockerConfigPath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new BoxliteError("invalid_argument", `docker config ${dockerConfigPath} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BoxliteError("invalid_argument", `docker config ${dockerConfigPath} is not valid JSON (${(error as Error).message}); fix or remove it`);
  }
  if (!isObject(raw) || !isObject(raw.auths)) return undefined;
  const auths = raw.auths;
  const wanted = canonicalHost(host);
  // An exact key wins over one that only normalizes to the host (`https://host/v1/`).
  const keys = [host, ...(wanted === DOCKER_HUB ? [HUB_CONFIG_KEY] : []), ...Object.keys(auths).filter((key) => canonicalHost(hostOfKey(key)) === wanted)];
  for (const key of keys) {
    const entry = auths[key];
    if (!isObject(entry)) continue;
    const credentials = entryCredentials(entry);
    if (credentials) return credentials;
  }
  return undefined;
}

/** `https://host:5000/v1/` → `host:5000`, as docker's ConvertToHostname does. */
function hostOfKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").split("/")[0] as string;
}

function entryCredentials(entry: Json): { username: string; password: string } | undefined {
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    // Passwords may contain colons; usernames may not.
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === "string" && entry.username !== "" && typeof entry.password === "string")
    return { username: entry.username, password: entry.password };
  return undefined;
}
