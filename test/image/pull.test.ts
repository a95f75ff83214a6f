/**
 * A pull and its base disk against a real registry, behind a gate that holds back the
 * image's last layer: the pull answers before every layer is in, the disk is built as the
 * layers arrive (the first applied while the last still waits), and a layer that fails
 * fails the whole pull with its own error and leaves nothing behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { getImage } from "../../src/db/images.ts";
import type { StoredBlob } from "../../src/image/arriving-blob.ts";
import { startPull } from "../../src/image/pull.ts";
import { prepareRegistryImage, registryDiskPath } from "../../src/image/resolve.ts";
import { openHome } from "../../src/runtime/home.ts";
import { imageContext } from "../../src/runtime/images.ts";
import { rejectionOf } from "../helpers/errors.ts";
import { type WrittenImage, writeOciImage } from "../helpers/oci-image.ts";
import { type Registry, startRegistry } from "../helpers/registry.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
let registry: Registry;
let image: WrittenImage;

beforeAll(async () => {
  const layout = temp.make("boxlite-pull-layout-");
  image = writeOciImage(layout, "v1", {
    layers: [
      { entries: [{ path: "first.txt", data: "1\n" }] },
      { entries: [{ path: "second.txt", data: "2\n" }] },
      { entries: [{ path: "last.txt", data: "3\n" }] },
    ],
  });
  registry = await startRegistry();
  await registry.push(layout, "test/app", "v1");
});
afterAll(async () => {
  await registry.stop();
  temp.removeAll();
});

const lastLayer = () => image.layers.at(-1)?.digest as string;

/** How the gate let the held blob through: the test's condition came true, or it gave up waiting. */
type Opened = "condition" | "deadline";

/**
 * A proxy in front of the registry that holds back one blob until `until()` is true (or 30 s
 * pass), then serves it, flipping a byte of it when `corrupt` is set.
 */
function startGate(heldDigest: string, until: () => boolean, corrupt = false) {
  const gate = { opened: undefined as Opened | undefined };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const upstream = await fetch(`http://${registry.host}${url.pathname}${url.search}`, { headers: { accept: request.headers.get("accept") ?? "*/*" } });
      if (!url.pathname.endsWith(`/blobs/${heldDigest}`)) return upstream;
      const deadline = Date.now() + 30_000;
      while (!until() && Date.now() < deadline) await Bun.sleep(10);
      gate.opened = until() ? "condition" : "deadline";
      const bytes = new Uint8Array(await upstream.arrayBuffer());
      const last = bytes.length - 1;
      if (corrupt) bytes[last] = (bytes[last] as number) ^ 0xff;
      return new Response(bytes, { headers: { "content-type": "application/octet-stream" } });
    },
  });
  return { gate, host: `127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

async function freshContext() {
  const config = loadConfig({ home: temp.make("boxlite-pull-home-") });
  const home = await openHome(config);
  return { context: imageContext(home), close: () => home.close() };
}

/** Staging trees of base disks being built in the home (`tmp/image-*`), as the build makes them. */
const stagingDirs = (home: string) => readdirSync(join(home, "tmp")).filter((name) => name.startsWith("image-"));

test("a pull answers once the image is known and hands out each layer's blob, whole before the last one is in", async () => {
  let released = false;
  const proxy = startGate(lastLayer(), () => released);
  const { context, close } = await freshContext();
  try {
    const pull = await startPull(context, `${proxy.host}/test/app:v1`);
    const first = pull.layers[0] as StoredBlob;
    await first.done;
    expect(first.progress.state).toBe("verified");
    expect(statSync(first.path).size).toBe(image.layers[0]?.size as number);
    expect(pull.layers.at(-1)?.progress.state).toBe("arriving");
    expect(proxy.gate.opened).toBeUndefined();
    expect(getImage(context.database.db, `${proxy.host}/test/app:v1`)?.complete).toBe(false);
    released = true;
    await pull.done;
    expect(getImage(context.database.db, `${proxy.host}/test/app:v1`)?.complete).toBe(true);
  } finally {
    close();
    proxy.stop();
  }
});

test("the base disk is built as the layers arrive: the first is applied while the last still downloads", async () => {
  const { context, close } = await freshContext();
  const home = context.config.home;
  // The gate opens once a staging tree holds the first layer's file: only a build that started before the last layer came can do that.
  const proxy = startGate(lastLayer(), () => stagingDirs(home).some((dir) => existsSync(join(home, "tmp", dir, "rootfs", "first.txt"))));
  try {
    const { base } = await prepareRegistryImage(context, `${proxy.host}/test/app:v1`);
    expect(proxy.gate.opened).toBe("condition");
    expect(existsSync(base.basePath)).toBe(true);
    expect(stagingDirs(home)).toEqual([]);
  } finally {
    close();
    proxy.stop();
  }
});

test("a layer that arrives corrupt fails the pull with the download's error, and leaves no disk, no staging tree and no complete record", async () => {
  const proxy = startGate(lastLayer(), () => true, true);
  const { context, close } = await freshContext();
  try {
    const error = await rejectionOf(prepareRegistryImage(context, `${proxy.host}/test/app:v1`));
    expect(error.message).toContain(`blob ${lastLayer()} arrived with content`);
    expect(existsSync(registryDiskPath(context.config, image.config.digest))).toBe(false);
    expect(stagingDirs(context.config.home)).toEqual([]);
    expect(getImage(context.database.db, `${proxy.host}/test/app:v1`)?.complete).toBe(false);
  } finally {
    close();
    proxy.stop();
  }
});
