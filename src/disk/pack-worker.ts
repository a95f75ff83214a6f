/**
 * The worker thread of pack-thread.ts: runs one blocking libqcow2 call per request
 * (flattenCompressed or compressFile) and answers with the checksum or the error.
 */
import { closeSync, openSync } from "node:fs";
import { isBoxliteError, wrapError } from "../util/errors.ts";
import type { PackReply, PackRequest } from "./pack-thread.ts";
import { compressFile, flattenCompressed } from "./qcow2.ts";

declare const self: Worker;

function pack({ source, fd, compression }: PackRequest): string {
  if ("chain" in source) return flattenCompressed(source.chain, fd, source.size, compression);
  let input: number;
  try {
    input = openSync(source.file, "r");
  } catch (error) {
    throw wrapError("not_found", `cannot archive ${source.file}`, error);
  }
  try {
    return compressFile({ fd: input, path: source.file }, source.size, fd, compression);
  } finally {
    closeSync(input);
  }
}

self.onmessage = (event: MessageEvent<PackRequest>) => {
  let reply: PackReply;
  try {
    reply = { checksum: pack(event.data) };
  } catch (error) {
    reply = { error: isBoxliteError(error) ? { code: error.code, message: error.message } : { message: String(error) } };
  }
  self.postMessage(reply);
};
