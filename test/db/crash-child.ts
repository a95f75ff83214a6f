/**
 * Opens a home and dies by SIGKILL at one named migration point: a real crash (no
 * unwinding, no ROLLBACK, no finally), for crash.test.ts. Usage: crash-child.ts <home> <point>
 */
import { database } from "./load.ts";

const [home, target] = process.argv.slice(2);
if (home === undefined || target === undefined) throw new Error("usage: crash-child.ts <home> <point>");
database.openDatabase({
  home,
  hooks: {
    point(name) {
      if (name === target) process.kill(process.pid, "SIGKILL");
    },
  },
});
// Reaching this line means the point was never hit: the parent checks the signal.
process.exit(3);
