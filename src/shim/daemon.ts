// The serving shim (no action): a child subreaper that serves the Task API on
// the socket `start` made (fd 3, or -socket), logs to the bundle's `log` FIFO
// (containerd copies it into its own log), publishes events to
// $TTRPC_ADDRESS, and exits after Shutdown once it has no tasks left, or on
// SIGTERM/SIGINT. Errors are logged, never fatal: an exception in one handler
// or callback must not take down every container this shim serves.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Runtime } from '../runtime/runtime';
import { addon } from '../sys/addon';
import { configFromEnv, type ShimConfig } from './config';
import { fromAddress } from './address';
import { EventPublisher } from './events';
import type { ShimFlags } from './flags';
import { OrphanReaper } from './reaper';
import { TASK_SERVICE, TaskService } from './service';
import { TtrpcServer } from './ttrpc/server';

type Level = 'info' | 'warning' | 'error' | 'debug';

function openLog(debug: boolean): (level: Level, msg: string) => void {
  let fd: number | undefined;
  try { fd = fs.openSync('log', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); } catch { fd = undefined; }
  return (level, msg) => {
    if (fd === undefined || (level === 'debug' && !debug)) return;
    const line = `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)} runtime=io.containerd.capsa.v2\n`;
    try { fs.writeSync(fd, line); } catch { /* containerd not reading: drop */ }
  };
}

export function isUnified(): boolean {
  try { return fs.statfsSync('/sys/fs/cgroup').type === 0x63677270; } catch { return false; }
}

/** A socket already listening (a spare taking over a pod) and the settings `start` chose. */
export interface Adopted {
  server: net.Server;
  socketFile: string;
  config: ShimConfig;
}

export async function serve(flags: ShimFlags, adopted?: Adopted): Promise<void> {
  const log = openLog(flags.debug);
  process.on('uncaughtException', (e) => log('error', `uncaught: ${e.stack ?? e}`));
  process.on('unhandledRejection', (e) => log('error', `unhandled rejection: ${(e as Error)?.stack ?? e}`));
  addon().setChildSubreaper(true);
  const reaper = new OrphanReaper();
  reaper.start();

  const config = adopted?.config ?? configFromEnv();
  const publisher = new EventPublisher(process.env.TTRPC_ADDRESS ?? '', flags.namespace);
  publisher.onDrop = (name, e) => log('error', `event ${name} dropped: ${(e as Error)?.message ?? e}`);
  // Only with -debug: the JSON of every event is not made for nothing.
  publisher.dialEarly();
  if (flags.debug) publisher.onPublish = (p) => log('debug', `publish ${p.topic} ${JSON.stringify(p.event, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  const runtimes = new Map<string, Runtime>();
  const socket = flags.socket || undefined;
  let listener: net.Server | undefined;
  /** The socket file to remove on exit (the one `start` made, or -socket); known before any signal can be handled. */
  const socketFile = adopted ? adopted.socketFile : socket ? fromAddress(socket) : addressFileSocket();
  let exiting = false;
  const server = new TtrpcServer();

  const exit = async () => {
    if (exiting) return;
    exiting = true;
    // The socket goes first: a `start` racing with this exit then makes a new shim instead of dialing a dying one.
    if (socketFile) fs.rmSync(socketFile, { force: true });
    for (const rt of runtimes.values()) rt.close();
    // Not listener.close(): for a socket bound here libuv would unlink the
    // path again, which by then may be a new shim's for the same pod.
    await publisher.flush(5000);
    publisher.close();
    server.closeAll();
    reaper.stop();
    process.exit(0);
  };

  const service = new TaskService({
    namespace: flags.namespace, publisher, config, unified: isUnified(), log,
    runtimeFor: (root, systemdCgroup) => {
      const key = `${root}\0${systemdCgroup}`;
      let rt = runtimes.get(key);
      if (!rt) {
        // Execs come again and again (probes): each takes a capsa-init parked ahead.
        rt = new Runtime({ root, systemdCgroup, parkInit: true, onWarning: (m) => log('warning', m) });
        runtimes.set(key, rt);
      }
      return rt;
    },
    onShutdown: () => { void exit(); },
    trackChild: (pid) => reaper.track(pid),
    trackProcess: (pid) => reaper.track(pid),
  });
  server.onError = (e) => log('error', `ttrpc: ${(e as Error)?.stack ?? e}`);
  server.register(TASK_SERVICE, service.methods());

  // Signal handlers before the title: a process that looks like this shim
  // (as tests and operators find it) already shuts down cleanly, removing
  // its socket, rather than dying of SIGTERM's default action mid-boot.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      log('info', `${sig}: shutting down with ${service.tasks.size} task(s)`);
      void exit();
    });
  }
  process.title = `containerd-shim-capsa-v2 -namespace ${flags.namespace} -id ${flags.id} -address ${flags.address}`;

  if (adopted) {
    listener = adopted.server;
    listener.on('connection', (sock: net.Socket) => server.serve(sock));
  } else {
    listener = net.createServer((sock) => server.serve(sock));
    await new Promise<void>((resolve, reject) => {
      listener!.once('error', reject);
      if (socket) listener!.listen(fromAddress(socket), () => resolve());
      else listener!.listen({ fd: 3 }, () => resolve());
    });
  }
  listener.on('error', (e) => log('error', `listener: ${e.message}`));
  log('debug', `serving ${flags.namespace}/${flags.id} (pid ${process.pid})`);
}

/** The socket path `start` wrote to the bundle's address file (our cwd). */
function addressFileSocket(): string | undefined {
  try { return fromAddress(fs.readFileSync('address', 'utf8').trim()); } catch { return undefined; }
}
