/** The worker thread of hash-thread.ts: hashes the file it is sent, in 1 MiB reads, and answers with the digest or the error. */
import { closeSync, openSync, readSync } from "node:fs";
import type { HashReply } from "./hash-thread.ts";

declare const self: Worker;

function sha256(path: string): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, "r");
  try {
    const buffer = new Uint8Array(1 << 20);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hasher.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hasher.digest("hex");
}

self.onmessage = (event: MessageEvent<string>) => {
  let reply: HashReply;
  try {
    reply = { sha256: sha256(event.data) };
  } catch (error) {
    reply = { error: String(error) };
  }
  self.postMessage(reply);
};
