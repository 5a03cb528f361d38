/** What the tests that start their own services share: free local ports, and whether a process is still alive. */
import net from 'node:net';

/** `count` distinct ports free on 127.0.0.1 (all held open together until each is known, so none repeats). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  const ports = await Promise.all(servers.map((server) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  })));
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** One port free on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
