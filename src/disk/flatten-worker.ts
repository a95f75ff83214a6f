/**
 * The worker thread of flatten-thread.ts: runs one flattenInto per request (a blocking
 * libqcow2 call) and answers with nothing or its error.
 */
import { isBoxliteError } from "../util/errors.ts";
import type { FlattenReply, FlattenRequest } from "./flatten-thread.ts";
import { flattenInto } from "./qcow2.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<FlattenRequest>) => {
  const { src, fd, size } = event.data;
  let reply: FlattenReply;
  try {
    flattenInto(src, fd, size);
    reply = {};
  } catch (error) {
    reply = { error: isBoxliteError(error) ? { code: error.code, message: error.message } : { message: String(error) } };
  }
  self.postMessage(reply);
};
