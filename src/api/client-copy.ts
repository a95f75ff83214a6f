/**
 * `cp` over REST, with the local runtime's placement rules (runtime/copy.ts): GET …/files
 * answers a tar of SRC (entries under SRC's basename), extracted here as copy-out does;
 * PUT …/files?path=DIR/ extracts a tar into a directory, so copy-in first asks whether DEST
 * is a directory (the first entry of its tar) and otherwise names the archive's top entry
 * after DEST and uploads it into DEST's parent.
 */
import { existsSync, mkdirSync } from "node:fs";
import { posix } from "node:path";
import { readTarStream } from "../image/tar.ts";
import type { BoxView } from "../runtime/box-view.ts";
import { boxPath, type CopyOptions, extractCopyOut, hostSource, outPlan, tarArgs } from "../runtime/copy.ts";
import { BoxliteError } from "../util/errors.ts";
import type { RestTransport } from "./client-http.ts";

function filesPath(box: BoxView): string {
  return `/boxes/${encodeURIComponent(box.box_id)}/files`;
}

/** Copies `box:srcPath` to `hostDst` through the server. */
export async function copyFromRemote(http: RestTransport, box: BoxView, srcPath: string, hostDst: string, options: CopyOptions): Promise<void> {
  const source = boxPath(srcPath);
  const contents = source.endsWith("/.") || source === "/";
  const plan = outPlan(hostDst, contents);
  const path = contents ? source.replace(/\/\.$/, "") || "/" : source;
  const response = await http
    .request("GET", filesPath(box), { query: { path, follow_symlinks: options.followSymlinks ? true : undefined } })
    .catch((error: unknown) => {
      // The server words it as its download; the local runtime as the cp it is.
      if (error instanceof BoxliteError && error.message.startsWith("download "))
        throw new BoxliteError(error.code, `cp ${error.message.slice("download ".length)}`);
      throw error;
    });
  if (!response.body) throw new BoxliteError("protocol", `cp ${box.name ?? box.box_id}:${source}: the server sent no tar`);
  if (contents && !existsSync(plan.root)) mkdirSync(plan.root);
  // The server's tar of a directory starts with the directory's name (the root's has none).
  await extractCopyOut(response.body, { plan, hostDst, source, contents, what: `cp ${box.name ?? box.box_id}:${source}`, stripTop: contents && path !== "/" });
}

/** What `path` is in the box: the type of the first entry of its tar, or undefined when it does not exist. */
async function remoteType(http: RestTransport, box: BoxView, path: string): Promise<string | undefined> {
  let response: Response;
  try {
    response = await http.request("GET", filesPath(box), { query: { path, follow_symlinks: true } });
  } catch (error) {
    if (error instanceof BoxliteError && error.code === "not_found") return undefined;
    throw error;
  }
  if (!response.body) return undefined;
  const entries = readTarStream(response.body, `cp ${box.name ?? box.box_id}:${path}`);
  try {
    return (await entries.next()).value?.type;
  } finally {
    await response.body.cancel().catch(() => {});
  }
}

/** Copies `hostSrc` to `box:dstPath` through the server. */
export async function copyToRemote(http: RestTransport, box: BoxView, hostSrc: string, dstPath: string, options: CopyOptions): Promise<void> {
  const { contents, isDirectory } = hostSource(hostSrc, options);
  const destination = boxPath(dstPath).replace(/\/\.$/, "") || "/";
  const what = `cp ${hostSrc} ${box.name ?? box.box_id}:${destination}`;
  let directory = destination;
  let topName: string | undefined;
  if (!contents && destination !== "/") {
    const type = await remoteType(http, box, destination);
    if (type !== "directory") {
      if (type !== undefined && isDirectory) throw new BoxliteError("invalid_argument", `${what}: cannot copy a directory onto the file ${destination}`);
      directory = posix.dirname(destination);
      topName = posix.basename(destination);
    }
  }
  const tar = Bun.spawn(tarArgs(hostSrc, contents, options.followSymlinks ?? false, topName), { stdout: "pipe", stderr: "pipe" });
  try {
    await http.request("PUT", filesPath(box), {
      // A trailing slash: into that directory, whatever the tar holds (the server's upload rule).
      query: { path: directory.endsWith("/") ? directory : `${directory}/`, overwrite: options.noOverwrite ? false : undefined },
      body: tar.stdout,
      headers: { "Content-Type": "application/x-tar" },
    });
    const [tarCode, tarErrors] = await Promise.all([tar.exited, new Response(tar.stderr).text()]);
    if (tarCode !== 0) throw new BoxliteError("disk", `${what}: tar could not read the source: ${tarErrors.trim()}`);
  } finally {
    tar.kill();
  }
}
