/**
 * `run`: create a box (its record in the home database and its directory), boot it, run
 * one command in it, and tear the VM down when the command ends. The box's record follows
 * it: configured → running → stopped (with the exit code), or failed with the reason.
 * Auto-remove boxes are removed on every path, failures included.
 */
import { ulid } from "ulid";
import { insertBox, updateBoxState } from "../db/boxes.ts";
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import type { PullEvent } from "../image/pull.ts";
import { resolveImage, resolveRootfs } from "../image/resolve.ts";
import { BoxliteError } from "../util/errors.ts";
import { lockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { newBoxConfig, newBoxState } from "./box-record.ts";
import { type BootedBox, bootBox, withConsoleTail } from "./boot.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import { imageContext } from "./images.ts";
import { checkName, checkResources, processSpec, type RunOptions } from "./options.ts";

export interface BoxRun {
  id: string;
  execution: GuestExecution;
  /** Settles after the command exited and the VM is gone (and the box removed with autoRemove). */
  done: Promise<ExitStatus>;
}

export async function startRun(home: Home, options: RunOptions, handlers: ExecHandlers, onPull?: (event: PullEvent) => void): Promise<BoxRun> {
  const { config } = home;
  const { db } = home.database;
  const resources = checkResources(options);
  const name = checkName(options.name);
  const images = imageContext(home);
  if (options.rootfs !== undefined && options.image !== undefined) throw new BoxliteError("usage", "give either IMAGE or --rootfs, not both");
  const image = options.rootfs !== undefined ? await resolveRootfs(images, options.rootfs) : await resolveImage(images, options.image, onPull);
  const id = ulid().toLowerCase();
  const spec = processSpec(options, image.config, id.slice(-12));
  const layout = boxLayout(config, id);

  insertBox(db, newBoxConfig({ id, name, image: image.name, options, ...resources, boxHome: layout.dir }), newBoxState("configured"));
  const lock = lockBox(config, id, "run");
  let box: BootedBox | undefined;
  const finish = async (outcome: { exitCode: number } | { error: unknown }) => {
    // An auto-remove box's disk is deleted next, so there is nothing to sync: skip the clean power-off.
    await (options.autoRemove ? box?.kill() : box?.stop());
    if (options.autoRemove) {
      discardBox(config, home.database, id);
    } else if ("exitCode" in outcome) {
      updateBoxState(db, id, { status: "stopped", pid: null, exit_code: outcome.exitCode, last_updated: new Date().toISOString() });
    } else {
      const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
      updateBoxState(db, id, { status: "failed", pid: null, error_reason: reason, last_updated: new Date().toISOString() });
    }
    lock.release();
  };
  try {
    box = await bootBox(config, { id, image, ...resources });
    updateBoxState(db, id, { status: "running", pid: box.vm.pid, last_updated: new Date().toISOString() });
    const execution = box.channel.exec({ ...spec, create_cwd: true, tty: options.tty ?? null, stdin: options.stdin ?? false }, handlers);
    const done = execution.exit.promise.then(
      async (status) => {
        await finish({ exitCode: status.code });
        return status;
      },
      async (error: unknown) => {
        const reported = withConsoleTail(error, layout);
        await finish({ error: reported });
        throw reported;
      },
    );
    return { id, execution, done };
  } catch (error) {
    await finish({ error });
    throw error;
  }
}
