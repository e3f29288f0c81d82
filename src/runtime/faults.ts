// Fault injection for the crash tests: when CAPSA_TEST_FAULT names a point,
// capsa kills itself there with SIGKILL, exactly as an engine killing it
// mid-call would. Points: create:before-init, create:maps, create:cgroup,
// create:child, create:hooks, create:created, start:before-fifo,
// start:after-fifo, exec:child, delete:before-kill, delete:before-cgroup,
// delete:before-remove.
export function faultPoint(name: string): void {
  if (process.env.CAPSA_TEST_FAULT === name) process.kill(process.pid, 'SIGKILL');
}
