import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { parseSignal, signalName } from '../../src/runtime/signals';

test('numbers are taken as-is', () => {
  assert.is(parseSignal('9'), 9);
  assert.is(parseSignal('0'), 0);
  assert.is(parseSignal('15'), 15);
  assert.is(parseSignal('100'), 100); // like runc: the kernel says EINVAL later
});

test('names with or without SIG, any case', () => {
  for (const s of ['KILL', 'SIGKILL', 'kill', 'sigkill', 'Kill']) assert.is(parseSignal(s), 9, s);
  assert.is(parseSignal('TERM'), 15);
  assert.is(parseSignal('SIGHUP'), 1);
  assert.is(parseSignal('usr1'), 10);
  assert.is(parseSignal('SIGUSR2'), 12);
  assert.is(parseSignal('SIGCHLD'), 17);
  assert.is(parseSignal('STOP'), 19);
  assert.is(parseSignal('CONT'), 18);
  assert.is(parseSignal('WINCH'), 28);
  assert.is(parseSignal('SIGSYS'), 31);
  assert.is(parseSignal('IOT'), 6);
});

test('real-time signals', () => {
  assert.is(parseSignal('SIGRTMIN'), 34);
  assert.is(parseSignal('SIGRTMIN+3'), 37);
  assert.is(parseSignal('rtmin+3'), 37);
  assert.is(parseSignal('RTMAX'), 64);
  assert.is(parseSignal('SIGRTMAX-2'), 62);
});

function rejects(raw: string): void {
  try {
    parseSignal(raw);
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'INVALID_ARGUMENT');
    assert.is((e as CapsaError).message, `unknown signal ${JSON.stringify(raw)}`);
    return;
  }
  assert.unreachable(`accepted ${raw}`);
}

test('unknown signals use runc wording', () => {
  rejects('FOO');
  assert.throws(() => parseSignal('FOO'), /^unknown signal "FOO"$/);
  for (const s of ['', 'SIG', '-5', '9x', 'SIGRTMIN+31', 'RTMAX+1', 'RTMIN-1', '1.5', ' 9']) rejects(s);
});

test('signalName', () => {
  assert.is(signalName(9), 'SIGKILL');
  assert.is(signalName(15), 'SIGTERM');
  assert.is(signalName(6), 'SIGABRT');
  assert.is(signalName(29), 'SIGIO');
  assert.is(signalName(34), 'SIGRTMIN');
  assert.is(signalName(37), 'SIGRTMIN+3');
  assert.is(signalName(49), 'SIGRTMIN+15');
  assert.is(signalName(50), 'SIGRTMAX-14');
  assert.is(signalName(64), 'SIGRTMAX');
  assert.is(signalName(0), '0');
  assert.is(signalName(32), '32');
});

test('signalName and parseSignal round-trip for 1..64 except the glibc-reserved 32, 33', () => {
  for (let n = 1; n <= 64; n++) {
    if (n === 32 || n === 33) continue;
    assert.is(parseSignal(signalName(n)), n, String(n));
  }
});

test.run();
