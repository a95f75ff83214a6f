/**
 * `run`: create a box, boot it, run one command in it, and tear the VM down when the
 * command ends. Auto-remove boxes are removed on every path, failures included.
 */
import { ulid } from "ulid";
import type { Config } from "../config/config.ts";
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import { resolveImage } from "../image/resolve.ts";
import { boxLayout, removeBox } from "./box-layout.ts";
import { type BootedBox, bootBox, withConsoleTail } from "./boot.ts";
import { checkResources, processSpec, type RunOptions } from "./options.ts";

export interface BoxRun {
  id: string;
  execution: GuestExecution;
  /** Settles after the command exited and the VM is gone (and the box removed with autoRemove). */
  done: Promise<ExitStatus>;
}

export async function startRun(config: Config, options: RunOptions, handlers: ExecHandlers): Promise<BoxRun> {
  const resources = checkResources(options);
  const image = await resolveImage(config, options.image);
  const id = ulid().toLowerCase();
  const spec = processSpec(options, image.config, id.slice(-12));
  const layout = boxLayout(config, id);
  let box: BootedBox | undefined;
  const finish = async () => {
    // An auto-remove box's disk is deleted next, so there is nothing to sync: skip the clean power-off.
    await (options.autoRemove ? box?.kill() : box?.stop());
    if (options.autoRemove) removeBox(layout);
  };
  try {
    box = await bootBox(config, { id, image, ...resources });
    const execution = box.channel.exec({ ...spec, create_cwd: true, tty: options.tty ?? null, stdin: options.stdin ?? false }, handlers);
    const done = execution.exit.promise.catch((error: unknown) => {
      throw withConsoleTail(error, layout);
    });
    return { id, execution, done: done.finally(finish) };
  } catch (error) {
    await finish();
    throw error;
  }
}
