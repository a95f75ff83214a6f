/**
 * The default image embedded in the binary (built by scripts/default-image.ts from
 * Debian's busybox-static), so `boxlite run -- echo hello` works offline.
 */
import { join } from "node:path";
import tarballPath from "../../build/image/default-rootfs.tar.gz" with { type: "file" };
import tarballSumPath from "../../build/image/default-rootfs.tar.gz.sha256" with { type: "file" };
import type { Config } from "../config/config.ts";
import type { ImageBase } from "./image.ts";
import { buildImageDisk } from "./image-disk.ts";

export const DEFAULT_IMAGE_NAME = "boxlite/default:latest";

/** The default image's base disk, built from the embedded tarball the first time. */
export async function prepareDefaultImage(config: Readonly<Config>): Promise<ImageBase> {
  // Keyed by the compressed tarball's digest, as before, so existing caches stay valid; the
  // build computed it (scripts/default-image.ts), so a start reads 1 MB only to build the disk.
  const digest = `sha256:${(await Bun.file(tarballSumPath).text()).trim()}`;
  const basePath = join(config.home, "images", "disk-images", `${digest.replace(":", "-")}.ext4`);
  await buildImageDisk(config, [{ source: DEFAULT_IMAGE_NAME, open: () => Bun.file(tarballPath).stream() }], basePath);
  return {
    name: DEFAULT_IMAGE_NAME,
    digest,
    basePath,
    config: { env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], cmd: ["sh"], entrypoint: [], workingDir: "/", user: "" },
  };
}
