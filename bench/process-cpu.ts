/** CPU time of other processes, as the kernel counts it (Linux /proc). */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { descendantsOf } from '../local/process/descendants.js';

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every common Linux build). */
export async function clockTicksPerSecond(): Promise<number> {
  const { stdout } = await promisify(execFile)('getconf', ['CLK_TCK']).catch(() => ({ stdout: '100' }));
  return Number(stdout.trim()) || 100;
}

/** utime + stime of one process, in ticks; undefined once it has exited. */
async function ticksOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at state: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/**
 * CPU milliseconds used so far by each named process together with its descendants that are not named
 * themselves (a service's helpers count for it; a service under the supervisor counts for itself).
 */
export async function cpuMsOf(processes: ReadonlyMap<string, number>, ticksPerSecond: number) {
  const named = new Set(processes.values());
  const result: Record<string, number> = {};
  for (const [name, pid] of processes) {
    let ticks = (await ticksOf(pid)) ?? NaN;
    for (const child of await descendantsOf(pid)) {
      if (!named.has(child)) ticks += (await ticksOf(child)) ?? 0;
    }
    result[name] = (ticks * 1000) / ticksPerSecond;
  }
  return result;
}
