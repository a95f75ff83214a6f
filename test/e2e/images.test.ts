/**
 * Images end to end against a real registry (Debian's docker-registry on 127.0.0.1):
 * pull → run reads the image's files and config, a cached run makes no request, local
 * layouts and docker archives run, `images` and `rmi` keep boxes safe, and bad input
 * (unknown tags, a corrupt or truncated blob, a dead registry) fails clearly and recovers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { busyboxLayer, dockerArchive, type FixtureImage, type WrittenImage, writeOciImage, writeOciIndex } from "../helpers/oci-image.ts";
import { type Registry, startRegistry } from "../helpers/registry.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();

const layout = temp.make("boxlite-images-layout-");
let registry: Registry;
let app: WrittenImage;
let ref: string;

/** busybox + a zstd layer with links and files + a gzip layer that whites out and makes a dir opaque. */
const APP: FixtureImage = {
  layers: [
    busyboxLayer(),
    {
      compression: "zstd",
      entries: [
        { path: "app/", type: "5" },
        { path: "app/data.txt", data: "v1\n" },
        { path: "app/gone.txt", data: "to be whited out\n" },
        { path: "app/hard", type: "1", link: "app/data.txt" },
        { path: "app/link", type: "2", link: "data.txt" },
        { path: "app/tool", data: "#!/bin/sh\necho tool\n", mode: 0o4755 },
        { path: "opq/", type: "5" },
        { path: "opq/lower.txt", data: "lower\n" },
      ],
    },
    {
      compression: "gzip",
      entries: [{ path: "app/.wh.gone.txt" }, { path: "opq/", type: "5" }, { path: "opq/.wh..wh..opq" }, { path: "opq/upper.txt", data: "upper\n" }],
    },
  ],
  config: {
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from the image config"],
    Entrypoint: ["/bin/sh", "-c"],
    Cmd: ["echo $GREETING; cat data.txt"],
    WorkingDir: "/app",
    User: "1000:1000",
  },
};

beforeAll(async () => {
  app = writeOciImage(layout, "v1", APP);
  writeOciIndex(layout, "multi", [
    { layers: [busyboxLayer(), { entries: [{ path: "platform.txt", data: "amd64\n" }] }], architecture: "amd64" },
    { layers: [busyboxLayer(), { entries: [{ path: "platform.txt", data: "arm64\n" }] }], architecture: "arm64" },
  ]);
  registry = await startRegistry();
  await registry.push(layout, "test/app", "v1");
  await registry.push(layout, "test/multi", "latest", { all: true, layoutTag: "multi" });
  ref = `${registry.host}/test/app:v1`;
});

afterAll(async () => {
  await registry.stop();
  temp.removeAll();
});

test("run pulls an image and runs its entrypoint and cmd, with its env, workdir and user", async () => {
  const result = await runCli(["run", "--rm", ref]);
  expect(result.stderr).toContain(`Pulling ${ref} (3 layers`);
  expect(result).toMatchObject({ code: 0, stdout: "hello from the image config\nv1\n" });
  const who = await runCli(["run", "--rm", ref, "--", "id -u; id -g; pwd"]);
  expect(who).toMatchObject({ code: 0, stdout: "1000\n1000\n/app\n" });
});

test("layers apply in order: whiteouts, opaque dirs, hard links, symlinks and setuid bits survive", async () => {
  const script =
    "ls -a /app | tr '\\n' ' '; echo; ls /opq; readlink /app/link; stat -c '%h %i' /app/hard /app/data.txt | cut -d' ' -f1 | tr '\\n' ' '; echo; stat -c %a /app/tool";
  const result = await runCli(["run", "--rm", "-u", "0", ref, "--", script]);
  expect(result.stderr).toBe("");
  expect(result.stdout).toBe(". .. data.txt hard link tool \nupper.txt\ndata.txt\n2 2 \n4755\n");
});

test("a cached image runs with zero registry requests", async () => {
  const before = (await registry.requests()).length;
  const result = await runCli(["run", "--rm", ref, "--", "true"]);
  expect(result).toMatchObject({ code: 0, stderr: "" });
  expect((await registry.requests()).length).toBe(before);
});

test("--entrypoint replaces the image's entrypoint and drops its cmd", async () => {
  const result = await runCli(["run", "--rm", "--entrypoint", "/bin/echo", ref, "--", "replaced"]);
  expect(result).toMatchObject({ code: 0, stdout: "replaced\n" });
  const bare = await runCli(["run", "--rm", "--entrypoint", "/bin/pwd", ref]);
  expect(bare).toMatchObject({ code: 0, stdout: "/app\n" });
});

test("a multi-platform index runs this host's image", async () => {
  const result = await runCli(["run", "--rm", `${registry.host}/test/multi`, "--", "cat", "/platform.txt"]);
  expect(result).toMatchObject({ code: 0, stdout: "amd64\n" });
});

test("pull, images and rmi: a used image is kept unless forced, and forcing leaves the box intact", async () => {
  expect((await runCli(["pull", ref])).code).toBe(0);
  const pulled = await runCli(["pull", ref]);
  expect(pulled).toMatchObject({ code: 0, stdout: `Pulled: ${ref} (cached)\nDigest: ${app.manifest.digest}\nLayers: 3\n` });
  const quiet = await runCli(["pull", "-q", ref]);
  expect(quiet.stdout).toBe(`${app.config.digest}\n`);
  const listed = JSON.parse((await runCli(["images", "--json"])).stdout) as Array<{ reference: string; id: string; tag: string; size: number }>;
  expect(listed).toContainEqual(expect.objectContaining({ reference: ref, id: app.manifest.digest, tag: "v1" }));

  const kept = await runCli(["run", "--name", "keeper", ref, "--", "echo kept > /tmp/state.txt"]);
  expect(kept.code).toBe(0);
  const refused = await runCli(["rmi", ref]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/image .*test\/app:v1 is used by box \w+; remove the boxes first, or use -f/);
  const forced = await runCli(["rmi", "-f", ref]);
  expect(forced).toMatchObject({ code: 0, stdout: `Untagged: ${ref}\n` });
  expect((await runCli(["images", "-q"])).stdout).not.toContain(app.manifest.digest);
  // The box's overlay still has its base: qemu-img (an independent reader) follows the chain.
  const id = (JSON.parse((await runCli(["inspect", "keeper"])).stdout) as Array<{ Id: string }>)[0]?.Id ?? "";
  const disk = join(process.env.BOXLITE_HOME as string, "boxes", id, "disks", "disk.qcow2");
  const chain = Bun.spawnSync(["qemu-img", "info", "--backing-chain", "--output=json", disk]);
  expect(chain.exitCode).toBe(0);
  const backing = (JSON.parse(chain.stdout.toString()) as Array<{ filename: string }>).map((entry) => entry.filename);
  expect(backing.length).toBe(2);
  expect(existsSync(backing[1] as string)).toBe(true);
  expect((await runCli(["rm", "keeper"])).code).toBe(0);

  const gone = await runCli(["rmi", ref]);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toMatch(/no image .* in this home/);
});

test("an OCI layout directory and a docker archive run without a registry", async () => {
  const fromLayout = await runCli(["run", "--rm", `oci:${layout}:v1`, "--", "cat /app/data.txt"]);
  expect(fromLayout).toMatchObject({ code: 0, stdout: "v1\n" });
  const plainDir = temp.make("boxlite-archive-");
  writeOciImage(plainDir, "gz", {
    layers: [busyboxLayer(), { entries: [{ path: "from-archive.txt", data: "archived\n" }] }],
    config: { Cmd: ["cat", "/from-archive.txt"] },
  });
  const archive = join(plainDir, "image.tar");
  dockerArchive(plainDir, "gz", archive, "test/archived:latest");
  const fromArchive = await runCli(["run", "--rm", `docker-archive:${archive}`]);
  expect(fromArchive).toMatchObject({ code: 0, stdout: "archived\n" });
  const viaRootfs = await runCli(["run", "--rm", "--rootfs", archive]);
  expect(viaRootfs).toMatchObject({ code: 0, stdout: "archived\n" });
});

test("an unknown tag or repository is a clear not-found error", async () => {
  const tag = await runCli(["pull", `${registry.host}/test/app:nope`]);
  expect(tag.code).toBe(1);
  expect(tag.stderr).toMatch(new RegExp(`${registry.host}/test/app:nope was not found on ${registry.host}`));
  const repo = await runCli(["run", "--rm", `${registry.host}/test/missing`, "--", "true"]);
  expect(repo.code).toBe(125);
  expect(repo.stderr).toMatch(/test\/missing:latest was not found/);
});

test("a corrupt blob is refused and a later pull fetches only what was bad", async () => {
  const dir = temp.make("boxlite-corrupt-");
  const image = writeOciImage(dir, "v1", { layers: [busyboxLayer(), { entries: [{ path: "c.txt", data: "c\n" }] }] });
  await registry.push(dir, "test/corrupt", "v1");
  const small = image.layers[1];
  if (!small) throw new Error("fixture has two layers");
  const stored = join(registry.dataDir, "docker/registry/v2/blobs/sha256", small.digest.slice(7, 9), small.digest.slice(7), "data");
  const backup = join(dir, "backup");
  copyFileSync(stored, backup);
  truncateSync(stored, small.size - 5);
  const truncated = await runCli(["pull", `${registry.host}/test/corrupt:v1`]);
  expect(truncated.code).toBe(1);
  expect(truncated.stderr).toMatch(new RegExp(`blob ${small.digest} ended after \\d+ of ${small.size} bytes`));
  expect((await runCli(["images", "-q"])).stdout).not.toContain(image.manifest.digest);

  copyFileSync(backup, stored);
  const before = (await registry.requests()).length;
  const retried = await runCli(["pull", `${registry.host}/test/corrupt:v1`]);
  expect(retried.code).toBe(0);
  const blobGets = (await registry.requests()).slice(before).filter((line) => line.startsWith("GET") && line.includes("/blobs/"));
  // Only the bad layer again: the busybox layer and the config were whole the first time.
  expect(blobGets).toEqual([`GET /v2/test/corrupt/blobs/${small.digest}`]);
});

test("a registry that is not there fails with the host and the cause", async () => {
  const result = await runCli(["--registry", "127.0.0.1:1", "pull", "nothing-here"]);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/registry 127\.0\.0\.1:1/);
  const home = process.env.BOXLITE_HOME as string;
  expect(readdirSync(join(home, "images")).filter((name) => name.endsWith(".partial"))).toEqual([]);
  expect(existsSync(join(home, "tmp"))).toBe(true);
});

test("two concurrent pulls of one image, and a second image sharing a layer, download each blob once", async () => {
  const dir = temp.make("boxlite-shared-");
  const first = writeOciImage(dir, "one", { layers: [busyboxLayer(), { entries: [{ path: "one.txt", data: "1\n" }] }] });
  const second = writeOciImage(dir, "two", { layers: [busyboxLayer(), { entries: [{ path: "two.txt", data: "2\n" }] }] });
  await registry.push(dir, "test/shared", "one");
  await registry.push(dir, "test/shared", "two");
  const env = { BOXLITE_HOME: temp.make("boxlite-shared-home-") };
  const before = (await registry.requests()).length;
  const results = await Promise.all([
    runCli(["pull", `${registry.host}/test/shared:one`], { env }),
    runCli(["pull", `${registry.host}/test/shared:one`], { env }),
  ]);
  expect(results.map((result) => result.code)).toEqual([0, 0]);
  expect((await runCli(["pull", `${registry.host}/test/shared:two`], { env })).code).toBe(0);
  const blobGets = (await registry.requests()).slice(before).filter((line) => line.startsWith("GET") && line.includes("/blobs/"));
  const digests = [first.config.digest, ...first.layers.map((layer) => layer.digest), second.config.digest, second.layers[1]?.digest];
  expect(blobGets.sort()).toEqual(digests.map((digest) => `GET /v2/test/shared/blobs/${digest}`).sort());
});

test("a registry with basic auth: refused without credentials (saying where they were looked for), pulled with docker's config.json", async () => {
  const secured = await startRegistry({ credentials: { username: "agent", password: "s3cret" } });
  try {
    await secured.push(layout, "test/app", "v1");
    const dockerDir = temp.make("boxlite-docker-config-");
    const env = { DOCKER_CONFIG: dockerDir, BOXLITE_HOME: temp.make("boxlite-auth-home-") };
    const refused = await runCli(["pull", `${secured.host}/test/app:v1`], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(secured.host);
    expect(refused.stderr).toContain(join(dockerDir, "config.json"));
    await Bun.write(join(dockerDir, "config.json"), JSON.stringify({ auths: { [secured.host]: { auth: btoa("agent:s3cret") } } }));
    const pulled = await runCli(["pull", `${secured.host}/test/app:v1`], { env });
    expect(pulled.stdout).toContain(`Digest: ${app.manifest.digest}`);
    expect(pulled.code).toBe(0);
  } finally {
    await secured.stop();
  }
});

test("a Docker schema 2 image (as docker push writes it) pulls and runs", async () => {
  const dir = temp.make("boxlite-v2s2-");
  writeOciImage(dir, "v1", { layers: [busyboxLayer(), { entries: [{ path: "schema.txt", data: "docker v2s2\n" }] }], config: { Cmd: ["cat", "/schema.txt"] } });
  await registry.push(dir, "test/docker", "v1", { format: "v2s2" });
  const manifest = await fetch(`http://${registry.host}/v2/test/docker/manifests/v1`, {
    headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
  });
  expect(manifest.headers.get("content-type")).toBe("application/vnd.docker.distribution.manifest.v2+json");
  await manifest.arrayBuffer();
  expect(await runCli(["run", "--rm", `${registry.host}/test/docker:v1`])).toMatchObject({ code: 0, stdout: "docker v2s2\n" });
});
