/**
 * Applies stored layers in a worker thread (layer-worker.ts), so that a pull's downloads,
 * on the main thread, and the layers' decompression, hashing and file writes run on two
 * cores at once, as `tar | gzip` would: a pull with its base disk took a tenth less time
 * than with both on the main thread (786 against 875 ms, medians of 21 interleaved rounds of
 * scripts/bench/pull.ts on a quiet machine). One thread per image build, one layer at a time.
 */
import { workerUrl } from "../util/self.ts";
import { BoxliteError, type ErrorCode } from "../util/errors.ts";
import type { StoredBlob } from "./arriving-blob.ts";
import type { ApplyLayerOptions, ApplyLayerResult } from "./layer.ts";

/** What the main thread asks: apply the stored blob, as it arrives, onto `root`. */
export interface LayerRequest {
  root: string;
  path: string;
  partialPath: string;
  /** The blob's ArrivalProgress, shared. */
  progress: SharedArrayBuffer;
  options: ApplyLayerOptions;
}

/** An error as it crosses back: a BoxliteError keeps its code. */
export interface ThreadError {
  code?: ErrorCode;
  message: string;
}

/** The worker's answer to one request. */
export type LayerReply = { result: ApplyLayerResult } | { error: ThreadError };

export class LayerThread implements Disposable {
  #worker: Worker | undefined;
  #pending: PromiseWithResolvers<ApplyLayerResult> | undefined;

  /** Applies the blob onto `root` in the worker as it arrives; rejects with the layer's error, code kept. */
  apply(root: string, blob: StoredBlob, options: ApplyLayerOptions): Promise<ApplyLayerResult> {
    if (this.#pending) throw new BoxliteError("internal", "a layer thread applies one layer at a time");
    const pending = Promise.withResolvers<ApplyLayerResult>();
    this.#pending = pending;
    const request: LayerRequest = { root, path: blob.path, partialPath: blob.partialPath, progress: blob.progress.shared, options };
    this.#start().postMessage(request);
    return pending.promise;
  }

  [Symbol.dispose](): void {
    this.#worker?.terminate();
    this.#fail(new BoxliteError("internal", "the layer thread was stopped while applying a layer"));
  }

  /** Started on the first layer: an image whose layers are all in memory never needs one. */
  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(workerUrl("image/layer-worker.ts"));
    worker.onmessage = (event: MessageEvent<LayerReply>) => this.#settle(event.data);
    worker.onerror = (event) => this.#fail(new BoxliteError("internal", `the layer thread failed: ${event.message}`));
    // A thread that ends on its own (a crash) would otherwise leave its layer waiting forever.
    worker.addEventListener("close", () => this.#fail(new BoxliteError("internal", "the layer thread ended while applying a layer")));
    this.#worker = worker;
    return worker;
  }

  #settle(reply: LayerReply): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if ("result" in reply) pending?.resolve(reply.result);
    else pending?.reject(new BoxliteError(reply.error.code ?? "internal", reply.error.message));
  }

  #fail(error: BoxliteError): void {
    this.#pending?.reject(error);
    this.#pending = undefined;
  }
}
