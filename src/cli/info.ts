/** `boxlite info [--json]`: what this boxlite would use to run a box, and why. */
import type { BoxliteApi, RuntimeInfo } from "../runtime/api.ts";
import { parseOptions } from "./args.ts";
import { out, printJson, printTable } from "./output.ts";

export const INFO_USAGE = `Usage: boxlite info [--json]

Show the version, the VMM backend and accelerator in use (and why), the jail around
each VMM (which layers apply on this host, and why any does not), the guest kernel, the
home directory and how many boxes it holds.

Options:
  --json   Print JSON
`;

const OPTIONS = { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

/** Which libkrunfw is in use: the embedded copy and where it was extracted, or the one BOXLITE_LIBKRUNFW names. */
function describeLibkrunfw(kernel: RuntimeInfo["kernel"]): string {
  return kernel.origin === "embedded" ? `embedded, extracted to ${kernel.path}` : `BOXLITE_LIBKRUNFW=${kernel.path}`;
}

/** The jail's default and each of its layers on this host, with why one is off (docs/security.md). */
function securityRows(security: RuntimeInfo["security"]): Array<[string, string]> {
  if (!security) return [];
  const ready = security.refusal ? `a jailed box cannot start here: ${security.refusal}` : "every layer a jailed box needs is here";
  return [
    ["Security", `${security.default} by default (--security); ${ready}`],
    ...Object.entries(security.layers).map(([name, layer]): [string, string] => [
      `Jail ${LABELS[name] ?? name}`,
      `${layer.active ? "on" : "off"}: ${layer.reason}`,
    ]),
  ];
}

/** Short enough not to widen the table's first column. */
const LABELS: Record<string, string> = { namespaces: "ns", filesystem: "files" };

export async function infoCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values } = parseOptions("info", OPTIONS, argv);
  if (values.help) {
    void out(INFO_USAGE);
    return 0;
  }
  const info = await runtime.info();
  if (values.json) {
    printJson(info);
    return 0;
  }
  printTable([
    ["Version", info.version],
    ["Home", info.homeDir],
    ["OS/Arch", `${info.os}/${info.arch}`],
    ["VMM", `${info.vmm.backend}${info.vmm.binary ? ` (${info.vmm.binary})` : ""}`],
    ["Accelerator", `${info.vmm.accelerator}: ${info.vmm.reason}`],
    ...info.vmm.rejected.map(({ name, reason }): [string, string] => [`Rejected ${name}`, reason]),
    ["Templates", `${info.vmm.templates.enabled ? "on" : "off"}: ${info.vmm.templates.reason}${info.vmm.templates.dir ? ` (${info.vmm.templates.dir})` : ""}`],
    ["Suspend", `${info.vmm.suspend.enabled ? "on" : "off"}: ${info.vmm.suspend.reason}`],
    ["Kernel", `Linux ${info.kernel.linuxVersion} from libkrunfw ${info.kernel.libkrunfwVersion} (${describeLibkrunfw(info.kernel)})`],
    ...securityRows(info.security),
    ["Default image", info.defaultImage],
    ["Boxes", `${info.boxesTotal} (${info.boxesRunning} running, ${info.boxesStopped} stopped, ${info.boxesConfigured} configured)`],
    ["Images", String(info.imagesCount)],
  ]);
  return 0;
}
