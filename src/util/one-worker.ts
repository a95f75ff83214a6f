/**
 * One request on a worker thread of its own (pack-thread.ts, hash-thread.ts): the request is
 * posted, the one answer settles the promise, and the thread is ended with it.
 */
import { BoxliteError } from "./errors.ts";

/** `what` names the thread in errors ("the packing thread"); `answer` makes the reply the result, or the error it reports. */
export function askWorker<Reply, Result>(url: URL, request: unknown, what: string, answer: (reply: Reply) => Result | BoxliteError): Promise<Result> {
  const { promise, resolve, reject } = Promise.withResolvers<Result>();
  const worker = new Worker(url);
  let settled = false;
  const settle = (outcome: Result | BoxliteError) => {
    if (settled) return;
    settled = true;
    worker.terminate();
    if (outcome instanceof BoxliteError) reject(outcome);
    else resolve(outcome);
  };
  worker.onmessage = ({ data }: MessageEvent<Reply>) => settle(answer(data));
  worker.onerror = (event) => settle(new BoxliteError("internal", `${what} failed: ${event.message}`));
  // A thread that ends on its own (a crash) would otherwise leave its caller waiting forever.
  worker.addEventListener("close", () => settle(new BoxliteError("internal", `${what} ended before its work`)));
  worker.postMessage(request);
  return promise;
}
