/**
 * Whether the runtime does clone, export and import, or still has the stubs that refuse
 * them as `unsupported`: their end-to-end tests are skipped until it does, and then run.
 */
import type { Boxlite } from "../../src/runtime/boxlite.ts";
import { BoxliteError } from "../../src/util/errors.ts";

export async function hasPortability(runtime: Boxlite): Promise<boolean> {
  return runtime.cloneBox("no-such-box-for-probe").then(
    () => true,
    (error: unknown) => !(error instanceof BoxliteError && error.code === "unsupported"),
  );
}
