import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { errorOf } from "../../../test/helpers/errors.ts";
import { loadConfig } from "../../config/config.ts";
import { candidatesFor, dockerCredentials, loadRegistrySettings, type RegistrySettings } from "./settings.ts";

const dir = mkdtempSync(join(tmpdir(), "boxlite-registry-settings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const file = (content: unknown) => {
  const path = join(dir, `file-${++files}.json`);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
};
const https = (host: string, search = false): RegistrySettings => ({ host, transport: "https", skipVerify: false, search });

test("a config file's image_registries are read with their defaults and auth", () => {
  const path = file({
    home_dir: "/ignored/here",
    image_registries: [
      { host: "127.0.0.1:5000", transport: "http", search: true },
      { host: "ghcr.io", skip_verify: true, auth: { type: "basic", username: "me", password: "pw" } },
      { host: "quay.io", auth: { type: "bearer", token: "tok" } },
      { host: "docker.io", auth: { type: "anonymous" } },
    ],
  });
  expect(loadRegistrySettings({ configFile: path })).toEqual([
    { host: "127.0.0.1:5000", transport: "http", skipVerify: false, search: true },
    { host: "ghcr.io", transport: "https", skipVerify: true, search: false, auth: { type: "basic", username: "me", password: "pw" } },
    { host: "quay.io", transport: "https", skipVerify: false, search: false, auth: { type: "bearer", token: "tok" } },
    { host: "docker.io", transport: "https", skipVerify: false, search: false, auth: { type: "anonymous" } },
  ]);
});

test("--registry flags come first, as https search registries", () => {
  const path = file({ image_registries: [{ host: "b.example", search: true }] });
  expect(loadRegistrySettings({ configFile: path, registryFlags: ["a.example:5000", "c.example"] })).toEqual([
    https("a.example:5000", true),
    https("c.example", true),
    https("b.example", true),
  ]);
  expect(loadRegistrySettings({ registryFlags: ["localhost:5000"] })).toEqual([{ ...https("localhost:5000", true), transport: "http" }]);
  expect(loadRegistrySettings({})).toEqual([]);
  expect(loadRegistrySettings({ configFile: file({}) })).toEqual([]);
});

test("a bad file is refused naming the file and the field", () => {
  const badJson = file("{ image_registries: [");
  expect(errorOf(() => loadRegistrySettings({ configFile: badJson })).message).toMatch(new RegExp(`^config file ${badJson}: not valid JSON`));
  const cases: Array<[unknown, RegExp]> = [
    [[], /the top level must be a JSON object/],
    [{ image_registries: {} }, /image_registries must be a list/],
    [{ image_registries: ["x"] }, /image_registries\[0\] must be an object/],
    [{ image_registries: [{ host: "a.io" }, { host: "b.io", transport: "ftp" }] }, /image_registries\[1\]\.transport must be "https" or "http", not "ftp"/],
    [{ image_registries: [{ transport: "http" }] }, /image_registries\[0\]\.host must be a registry host/],
    [{ image_registries: [{ host: "http://a.io" }] }, /image_registries\[0\]\.host: registry host "http:\/\/a.io" is not host\[:port\]/],
    [{ image_registries: [{ host: "a.io", skip_verify: "yes" }] }, /image_registries\[0\]\.skip_verify must be true or false/],
    [
      { image_registries: [{ host: "a.io", skipVerify: true }] },
      /image_registries\[0\] has unknown field "skipVerify"; the fields are host, transport, skip_verify, search, auth/,
    ],
    [{ image_registries: [{ host: "a.io", auth: { type: "basic", username: "u" } }] }, /image_registries\[0\]\.auth\.password must be a non-empty string/],
    [
      { image_registries: [{ host: "a.io", auth: { type: "oauth" } }] },
      /image_registries\[0\]\.auth\.type must be "anonymous", "basic" or "bearer", not "oauth"/,
    ],
  ];
  for (const [content, message] of cases) {
    const path = file(content);
    const error = errorOf(() => loadRegistrySettings({ configFile: path }));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toStartWith(`config file ${path}: `);
    expect(error.message).toMatch(message);
  }
  expect(errorOf(() => loadRegistrySettings({ configFile: join(dir, "missing.json") })).message).toMatch(/config file .*missing\.json cannot be read/);
  expect(errorOf(() => loadRegistrySettings({ registryFlags: ["https://a.io"] })).message).toMatch(
    /^--registry: registry host "https:\/\/a.io" is not host\[:port\]/,
  );
});

test("a fully qualified reference goes to its registry only, with that entry's settings", () => {
  const local: RegistrySettings = { host: "127.0.0.1:5000", transport: "http", skipVerify: false, search: true };
  const settings = [https("mirror.example", true), local];
  expect(candidatesFor("127.0.0.1:5000/team/app:v1", settings)).toEqual([
    { settings: local, reference: { registry: "127.0.0.1:5000", repository: "team/app", tag: "v1" } },
  ]);
  expect(candidatesFor("ghcr.io/o/r", settings)).toEqual([
    { settings: https("ghcr.io"), reference: { registry: "ghcr.io", repository: "o/r", tag: "latest" } },
  ]);
  // Loopback registries are plain HTTP unless configured, as docker's default insecure range.
  expect(candidatesFor("localhost:5000/x", settings)[0]?.settings).toEqual({ ...https("localhost:5000"), transport: "http" });
  expect(candidatesFor("127.9.9.9:80/x", settings)[0]?.settings.transport).toBe("http");
  expect(candidatesFor("[::1]:5000/x", settings)[0]?.settings.transport).toBe("http");
  expect(candidatesFor("127.example:5000/x", settings)[0]?.settings.transport).toBe("https");
  const hub = candidatesFor("docker.io/library/alpine", settings);
  expect(hub).toEqual([{ settings: https("docker.io"), reference: { registry: "docker.io", repository: "library/alpine", tag: "latest" } }]);
  // Docker Hub's other names find a docker.io entry.
  const hubEntry: RegistrySettings = { ...https("docker.io"), auth: { type: "anonymous" } };
  expect(candidatesFor("index.docker.io/busybox", [hubEntry])[0]?.settings).toBe(hubEntry);
});

test("an unqualified reference tries each search registry in order, library/ only on docker.io", () => {
  const settings = [https("a.example", true), https("b.example"), https("c.example:5000", true), https("index.docker.io", true)];
  const candidates = candidatesFor("alpine:3.20", settings);
  expect(candidates.map((candidate) => candidate.settings.host)).toEqual(["a.example", "c.example:5000", "index.docker.io"]);
  expect(candidates.map((candidate) => candidate.reference)).toEqual([
    { registry: "a.example", repository: "alpine", tag: "3.20" },
    { registry: "c.example:5000", repository: "alpine", tag: "3.20" },
    { registry: "docker.io", repository: "library/alpine", tag: "3.20" },
  ]);
  const digest = `sha256:${"ab".repeat(32)}`;
  expect(candidatesFor(`team/app@${digest}`, settings)[0]?.reference).toEqual({ registry: "a.example", repository: "team/app", digest });
});

test("with no search registry, an unqualified reference goes to docker.io", () => {
  expect(candidatesFor("alpine", [])).toEqual([
    { settings: https("docker.io"), reference: { registry: "docker.io", repository: "library/alpine", tag: "latest" } },
  ]);
  const hubEntry: RegistrySettings = { ...https("docker.io"), auth: { type: "basic", username: "u", password: "p" } };
  expect(candidatesFor("team/app", [https("x.example"), hubEntry])).toEqual([
    { settings: hubEntry, reference: { registry: "docker.io", repository: "team/app", tag: "latest" } },
  ]);
  expect(errorOf(() => candidatesFor("Alpine", [])).code).toBe("invalid_argument");
});

test("docker config.json credentials: auth, username/password, Docker Hub's key, URL keys", () => {
  const path = file({
    auths: {
      "127.0.0.1:5000": { auth: btoa("user:pa:ss") },
      "https://index.docker.io/v1/": { auth: btoa("hubuser:hubpw") },
      "ghcr.io": { username: "gh", password: "ghpw" },
      "https://quay.io/v2/": { auth: btoa("q:qpw") },
      "empty.example": {},
    },
    credsStore: "desktop",
  });
  expect(dockerCredentials("127.0.0.1:5000", path)).toEqual({ username: "user", password: "pa:ss" });
  expect(dockerCredentials("docker.io", path)).toEqual({ username: "hubuser", password: "hubpw" });
  expect(dockerCredentials("registry-1.docker.io", path)).toEqual({ username: "hubuser", password: "hubpw" });
  expect(dockerCredentials("ghcr.io", path)).toEqual({ username: "gh", password: "ghpw" });
  expect(dockerCredentials("quay.io", path)).toEqual({ username: "q", password: "qpw" });
  expect(dockerCredentials("empty.example", path)).toBeUndefined();
  expect(dockerCredentials("127.0.0.1:5001", path)).toBeUndefined();
  expect(dockerCredentials("127.0.0.1:5000", join(dir, "no-such-config.json"))).toBeUndefined();
  expect(dockerCredentials("x", file({}))).toBeUndefined();
  const broken = file("{");
  expect(errorOf(() => dockerCredentials("x", broken)).message).toStartWith(`docker config ${broken} is not valid JSON`);
});

test("the docker config path follows DOCKER_CONFIG, else ~/.docker", () => {
  expect(loadConfig({ home: "/h" }, {}).dockerConfigPath).toBe(join(homedir(), ".docker", "config.json"));
  expect(loadConfig({ home: "/h" }, { DOCKER_CONFIG: "/etc/dockercfg" }).dockerConfigPath).toBe("/etc/dockercfg/config.json");
});
