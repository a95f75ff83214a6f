/**
 * The host terminal for `-t`: raw mode while the box owns it, restored on every exit
 * path (normal exit, error, signal), and window-size changes forwarded.
 */

export interface TerminalSize {
  rows: number;
  cols: number;
}

export function terminalSize(): TerminalSize {
  return { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 };
}

export class RawTerminal implements Disposable {
  private active = false;
  private readonly restoreOnExit = () => this.restore();

  /** Puts stdin in raw mode; calls onResize with the new size on SIGWINCH. */
  constructor(private readonly onResize: (size: TerminalSize) => void) {
    if (!process.stdin.isTTY) return;
    process.stdin.setRawMode(true);
    this.active = true;
    process.on("exit", this.restoreOnExit);
    process.on("SIGWINCH", this.handleResize);
  }

  private readonly handleResize = () => this.onResize(terminalSize());

  restore(): void {
    if (!this.active) return;
    this.active = false;
    process.stdin.setRawMode(false);
    process.off("SIGWINCH", this.handleResize);
    process.off("exit", this.restoreOnExit);
  }

  [Symbol.dispose](): void {
    this.restore();
  }
}
