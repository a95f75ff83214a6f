/**
 * The worker thread of layer-thread.ts: applies one stored layer blob per request with
 * applyLayer, following it as it arrives, and answers with its result or its error.
 */
import { isBoxliteError } from "../util/errors.ts";
import { ArrivalProgress, followBlob } from "./arriving-blob.ts";
import { applyLayer } from "./layer.ts";
import type { LayerReply, LayerRequest } from "./layer-thread.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<LayerRequest>) => {
  const { root, path, partialPath, progress, options } = event.data;
  let reply: LayerReply;
  try {
    reply = { result: await applyLayer(root, followBlob({ path, partialPath }, new ArrivalProgress(progress), options.source), options) };
  } catch (error) {
    reply = { error: isBoxliteError(error) ? { code: error.code, message: error.message } : { message: String(error) } };
  }
  self.postMessage(reply);
};
