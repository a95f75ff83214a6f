/** Reads extended attributes through an independent oracle: getfattr (Debian's `attr`). */

/** The value of `name` on `path` (not following a symlink) as hex; undefined when absent. */
export function readXattrHex(path: string, name: string): string | undefined {
  const run = Bun.spawnSync(["getfattr", "-h", "--only-values", "-n", name, path], { stdout: "pipe", stderr: "pipe" });
  return run.exitCode === 0 ? Buffer.from(run.stdout).toString("hex") : undefined;
}
