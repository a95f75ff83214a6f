/**
 * A file's SHA-256 computed on a worker thread (hash-worker.ts), for a caller whose thread
 * has other work meanwhile: a resume checks its saved state (tens of MB, 50–90 ms of
 * hashing here) while it starts and loads the VM, and hashed on the owner's own thread the
 * check held up that work (docs/suspend.md). One worker per file, ended with it.
 */
import { BoxliteError } from "./errors.ts";
import { askWorker } from "./one-worker.ts";
import { workerUrl } from "./self.ts";

/** What the worker answers: the hex digest, or why it could not read the file. */
export interface HashReply {
  sha256?: string;
  error?: string;
}

export function sha256FileInThread(path: string): Promise<string> {
  return askWorker(
    workerUrl("util/hash-worker.ts"),
    path,
    "the hashing thread",
    (reply: HashReply) => reply.sha256 ?? new BoxliteError("internal", `cannot hash ${path}: ${reply.error ?? "no answer"}`),
  );
}
