/**
 * A file's SHA-256 computed on a worker thread (hash-worker.ts), for a caller whose thread
 * has other work meanwhile: a resume checks its saved state (tens of MB, 50–90 ms of
 * hashing here) while it starts and loads the VM, and hashed on the owner's own thread the
 * check held up that work by ~20 ms (docs/suspend.md). One worker per file, ended with it.
 */
import { BoxliteError } from "./errors.ts";
import { isCompiled } from "./self.ts";

/** What the worker answers: the hex digest, or why it could not read the file. */
export interface HashReply {
  sha256?: string;
  error?: string;
}

/** From source the worker is the module beside this one; the compiled executable holds it as an entry point of its own (scripts/build.ts). */
function workerUrl(): URL {
  return new URL(isCompiled() ? "./util/hash-worker.ts" : "./hash-worker.ts", import.meta.url);
}

export function sha256FileInThread(path: string): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const worker = new Worker(workerUrl());
  let settled = false;
  const settle = (outcome: string | BoxliteError) => {
    if (settled) return;
    settled = true;
    worker.terminate();
    if (typeof outcome === "string") resolve(outcome);
    else reject(outcome);
  };
  worker.onmessage = ({ data }: MessageEvent<HashReply>) =>
    settle(data.sha256 ?? new BoxliteError("internal", `cannot hash ${path}: ${data.error ?? "no answer"}`));
  worker.onerror = (event) => settle(new BoxliteError("internal", `the hashing thread failed: ${event.message}`));
  // A thread that ends on its own (a crash) would otherwise leave its caller waiting forever.
  worker.addEventListener("close", () => settle(new BoxliteError("internal", "the hashing thread ended before its work")));
  worker.postMessage(path);
  return promise;
}
