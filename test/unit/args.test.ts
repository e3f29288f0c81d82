// The runc-style flag parser (src/cli/args.ts), without root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { expectArgs, parseFlags, type FlagSpec } from '../../src/cli/args';
import { CapsaError } from '../../src/errors';

const SPECS: FlagSpec[] = [
  { name: 'bundle', short: 'b', type: 'string' },
  { name: 'detach', short: 'd', type: 'bool' },
  { name: 'preserve-fds', type: 'int' },
  { name: 'env', short: 'e', type: 'list' },
  { name: 'force', short: 'f', type: 'bool' },
];

const parse = (argv: string[]) => parseFlags(argv, SPECS);

function fails(argv: string[], msg: string | RegExp): void {
  try {
    parse(argv);
  } catch (e) {
    assert.instance(e, CapsaError);
    assert.is((e as CapsaError).code, 'INVALID_ARGUMENT');
    assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`${argv.join(' ')} was accepted`);
}

test('no arguments', () => {
  assert.equal(parse([]), { flags: {}, positional: [] });
});

test('--flag value, --flag=value, -f value, -flag value', () => {
  assert.equal(parse(['--bundle', '/b', 'id']), { flags: { bundle: '/b' }, positional: ['id'] });
  assert.equal(parse(['--bundle=/b', 'id']).flags, { bundle: '/b' });
  assert.equal(parse(['-b', '/b', 'id']).flags, { bundle: '/b' });
  assert.equal(parse(['-bundle', '/b', 'id']).flags, { bundle: '/b' }, 'Go\'s flag package takes one dash too');
  assert.equal(parse(['-b=/b', 'id']).flags, { bundle: '/b' });
});

test('a value may contain "=" and may start with a dash', () => {
  assert.equal(parse(['--bundle=/a=b', 'x']).flags, { bundle: '/a=b' });
  assert.equal(parse(['--bundle', '-weird', 'x']), { flags: { bundle: '-weird' }, positional: ['x'] });
  assert.equal(parse(['--bundle=', 'x']).flags, { bundle: '' });
});

test('booleans: bare is true, =true/=false, and the next arg is never consumed', () => {
  assert.equal(parse(['-d', 'id']), { flags: { detach: true }, positional: ['id'] });
  assert.equal(parse(['--detach=false', 'id']).flags, { detach: false });
  assert.equal(parse(['--detach=true', 'id']).flags, { detach: true });
  assert.equal(parse(['--detach', 'false']), { flags: { detach: true }, positional: ['false'] });
  fails(['--detach=yes'], 'invalid boolean value "yes" for -detach');
});

test('ints: parsed as numbers, non-numbers refused', () => {
  assert.equal(parse(['--preserve-fds', '3', 'id']).flags, { 'preserve-fds': 3 });
  assert.equal(parse(['--preserve-fds=0']).flags, { 'preserve-fds': 0 });
  assert.equal(parse(['--preserve-fds=-1']).flags, { 'preserve-fds': -1 });
  fails(['--preserve-fds', 'three'], 'invalid value "three" for flag -preserve-fds: parse error');
  fails(['--preserve-fds', '1.5'], 'parse error');
  fails(['--preserve-fds='], 'parse error');
});

test('lists: repeated flags accumulate in order', () => {
  assert.equal(parse(['-e', 'A=1', '--env', 'B=2', '--env=C=3', 'id']).flags, { env: ['A=1', 'B=2', 'C=3'] });
});

test('a repeated scalar flag: the last wins', () => {
  assert.equal(parse(['-b', '/one', '--bundle', '/two']).flags, { bundle: '/two' });
});

test('an unknown flag: "flag provided but not defined: -name"', () => {
  fails(['--bogus', 'x'], 'flag provided but not defined: -bogus');
  fails(['-z'], 'flag provided but not defined: -z');
  fails(['--bogus=1'], 'flag provided but not defined: -bogus');
});

test('a flag without its value: "flag needs an argument"', () => {
  fails(['--bundle'], 'flag needs an argument: -bundle');
  fails(['-b'], 'flag needs an argument: -b');
});

test('flags stop at the first positional argument', () => {
  assert.equal(parse(['-d', 'id', '--bundle', '/b']), { flags: { detach: true }, positional: ['id', '--bundle', '/b'] });
  assert.equal(parse(['id', '--bogus']).positional, ['id', '--bogus'], 'no error for flags after a positional');
});

test('"--" ends the flags; "-" is a positional', () => {
  assert.equal(parse(['-d', '--', '--bundle', 'x']), { flags: { detach: true }, positional: ['--bundle', 'x'] });
  assert.equal(parse(['-', 'x']), { flags: {}, positional: ['-', 'x'] });
  assert.equal(parse(['--']), { flags: {}, positional: [] });
});

test('expectArgs: exactly n positionals, runc\'s complaint otherwise', () => {
  expectArgs('start', ['id'], 1, 'capsa start <container-id>');
  for (const pos of [[], ['a', 'b']]) {
    try {
      expectArgs('start', pos, 1, 'capsa start <container-id>');
      assert.unreachable(`accepted ${pos.length} arguments`);
    } catch (e) {
      assert.instance(e, CapsaError);
      assert.is((e as CapsaError).code, 'INVALID_ARGUMENT');
      assert.is((e as Error).message, '"start" requires exactly 1 argument: capsa start <container-id>');
    }
  }
  try {
    expectArgs('x', ['a'], 2, 'usage');
    assert.unreachable('accepted 1 of 2');
  } catch (e) {
    assert.is((e as Error).message, '"x" requires 2 arguments: usage');
  }
});

test('the parser does not mutate its input', () => {
  const argv = ['-b', '/b', '-e', 'A=1', 'id'];
  const copy = [...argv];
  parse(argv);
  assert.equal(argv, copy);
});

test.run();
