/**
 * The orphan watchdog: a tiny `sh` process that outlives portico by a moment. portico tells it, over
 * its stdin pipe, the process group of every worker it starts ("+PGID") and stops ("-PGID"). When the
 * pipe closes — portico exited or was SIGKILLed — the watchdog sends SIGTERM to every group it still
 * knows, waits a second, then SIGKILL, and exits. It ignores INT/TERM/HUP so a Ctrl-C meant for
 * portico does not take it away first. (IPC 'disconnect' only works for Node children; prctl
 * PDEATHSIG only reaches the direct child, not what the worker started.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { GroupWatcher } from './app-worker.js';

const SCRIPT = `
trap '' INT TERM HUP
groups=" "
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups\${line#+} " ;;
    -*) groups=$(printf '%s' "$groups" | sed "s/ \${line#-} / /") ;;
  esac
done
[ -z "$(printf '%s' "$groups" | tr -d ' ')" ] && exit 0
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
sleep 1
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
exit 0
`;

/** Watchdog kills every known worker group when portico goes away. */
export class Watchdog implements GroupWatcher {
  private readonly child: ChildProcess;

  constructor() {
    this.child = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.child.stdin!.on('error', () => undefined);
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  add(pgid: number): void {
    this.child.stdin!.write(`+${pgid}\n`);
  }

  remove(pgid: number): void {
    this.child.stdin!.write(`-${pgid}\n`);
  }

  /** close ends the watchdog after a clean shutdown (every worker already stopped). */
  close(): void {
    this.child.stdin!.end();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
}
