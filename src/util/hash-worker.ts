/** The worker thread of hash-thread.ts: hashes the file it is sent and answers with the digest or the error. */
import { sha256File } from "./fs.ts";
import type { HashReply } from "./hash-thread.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<string>) => {
  let reply: HashReply;
  try {
    reply = { sha256: await sha256File(event.data) };
  } catch (error) {
    reply = { error: String(error) };
  }
  self.postMessage(reply);
};
