/** What the runtime needs of an image: its ext4 base and the config that shapes `run`. */

export interface ImageConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
}

export interface ImageBase {
  name: string;
  digest: string;
  /** Read-only ext4 filesystem image; boxes get qcow2 overlays on it. */
  basePath: string;
  config: ImageConfig;
}
