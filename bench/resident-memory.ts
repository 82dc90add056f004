/** Resident memory of another process, as the kernel counts it. */
import { readFile } from 'node:fs/promises';

/** VmRSS of /proc/<pid>/status (Linux) in MB; undefined once the process has exited. */
export async function residentMemoryMb(pid: number): Promise<number | undefined> {
  try {
    const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kilobytes === undefined ? undefined : Number(kilobytes) / 1024;
  } catch {
    return undefined;
  }
}
