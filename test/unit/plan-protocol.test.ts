// The Plan protocol has two copies: native/init/protocol.h (the op codes and
// op_fields(), the table capsa-init checks every plan against) and
// src/plan/schema.ts (what the encoder writes). These tests hold them
// together: by parsing the header, and by having the real capsa-init check a
// plan holding every op, then truncated and padded ones. No root needed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { encodePlan } from '../../src/plan/encode';
import { ERR, MSG, OPS, SYNC, type FieldType, type Op, type OpName } from '../../src/plan/schema';
import { PARKED_MAX_EXTRA_FDS } from '../../src/runtime/init-process';
import { REPO_ROOT } from '../helpers/rootfs';

const HEADER = fs.readFileSync(path.join(REPO_ROOT, 'native/init/protocol.h'), 'utf8');
const INIT = path.join(REPO_ROOT, 'build', 'Release', 'capsa-init');

/** OP_NAME → code, from `enum op_code`. */
function enumCodes(): Map<string, number> {
  const body = HEADER.slice(HEADER.indexOf('enum op_code'), HEADER.indexOf('};', HEADER.indexOf('enum op_code')));
  return new Map([...body.matchAll(/\b(OP_[A-Z0-9_]+)\s*=\s*(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

/** OP_NAME → field types, from op_fields(). */
function fieldTable(): Map<string, string> {
  const body = HEADER.slice(HEADER.indexOf('op_fields(unsigned code)'));
  return new Map([...body.matchAll(/case (OP_[A-Z0-9_]+): return "([^"]*)";/g)].map((m) => [m[1]!, m[2]!]));
}

test('every op in schema.ts has the same code in protocol.h, and every op code there has a schema entry', () => {
  const codes = enumCodes();
  const byCode = new Map([...codes].map(([name, code]) => [code, name]));
  for (const [name, def] of Object.entries(OPS)) assert.ok(byCode.has(def.code), `schema op ${name} (code ${def.code}) is not in protocol.h`);
  const schemaCodes = new Set<number>(Object.values(OPS).map((d) => d.code));
  for (const [name, code] of codes) assert.ok(schemaCodes.has(code), `${name} (${code}) has no entry in src/plan/schema.ts`);
  assert.is(byCode.size, codes.size, 'no two op names share a code in protocol.h');
});

test('op_fields() in protocol.h lists, for every op, exactly the field types schema.ts encodes', () => {
  const codes = enumCodes();
  const table = fieldTable();
  const byCode = new Map([...codes].map(([name, code]) => [code, name]));
  for (const [name, def] of Object.entries(OPS)) {
    const cName = byCode.get(def.code)!;
    assert.ok(table.has(cName), `op_fields() has no line for ${cName}`);
    assert.is(table.get(cName), def.fields.map((f) => f[1]).join(' '), `${name} / ${cName}`);
  }
  assert.is(table.size, codes.size, 'op_fields() has a line for every op code and no more');
});

test('capsa-init has a handler in op_table for every op code of protocol.h, and none for codes that do not exist', () => {
  const source = fs.readFileSync(path.join(REPO_ROOT, 'native/init/capsa-init.c'), 'utf8');
  const start = source.indexOf('op_table[] = {');
  assert.ok(start >= 0, 'capsa-init.c has op_table');
  const body = source.slice(start, source.indexOf('};', start));
  const handled = [...body.matchAll(/\[(OP_[A-Z0-9_]+)\]\s*=/g)].map((m) => m[1]!).sort();
  assert.equal(handled, [...enumCodes().keys()].sort());
});

/** NAME → value of a C enum in the header, prefix stripped. */
function cEnum(name: string, prefix: string): Record<string, number> {
  const start = HEADER.indexOf(`enum ${name} {`);
  assert.ok(start >= 0, `protocol.h has enum ${name}`);
  const body = HEADER.slice(start, HEADER.indexOf('};', start));
  return Object.fromEntries([...body.matchAll(new RegExp(`\\b${prefix}([A-Z0-9_]+)\\s*=\\s*(\\d+)`, 'g'))].map((m) => [m[1]!, Number(m[2])]));
}

test('message types, sync codes and error kinds are the same numbers in protocol.h and schema.ts', () => {
  assert.equal(cEnum('msg_type', 'MSG_'), { ...MSG });
  assert.equal(cEnum('sync_code', 'SYNC_'), { ...SYNC });
  assert.equal(cEnum('error_kind', 'ERR_'), { ...ERR });
});

const SAMPLE: Record<FieldType, unknown> = { u32: 7, u64: 9n, str: 'x/y', strs: ['a', 'bc'], blob: Buffer.from([1, 2, 3]), u32s: [1, 2] };

/** One op of each kind, every field filled. */
function everyOp(): Op[] {
  return (Object.keys(OPS) as OpName[]).map((name) => {
    const op: Record<string, unknown> = { op: name };
    for (const [field, type] of OPS[name].fields) op[field] = SAMPLE[type];
    return op as unknown as Op;
  });
}

function check(plan: Buffer): string {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(plan.length);
  const r = spawnSync(INIT, ['--check-plan'], { input: Buffer.concat([head, plan]), encoding: 'utf8' });
  return r.stdout.trim();
}

test('a parked capsa-init takes as many fds after the sync socket in protocol.h as init-process.ts may send it', () => {
  const m = /#define PARKED_MAX_EXTRA_FDS (\d+)/.exec(HEADER);
  assert.ok(m, 'PARKED_MAX_EXTRA_FDS in protocol.h');
  assert.is(Number(m[1]), PARKED_MAX_EXTRA_FDS);
});

test('capsa-init accepts a plan holding every op the encoder can write', () => {
  const ops = everyOp();
  assert.is(check(encodePlan(ops)), `ok ${ops.length}`);
});

test('capsa-init refuses, before running anything, a plan whose op is short by a byte or has a byte too many', () => {
  const ops = everyOp();
  const plan = encodePlan(ops);
  // The last op (no fields or some): change its payload length.
  const one = encodePlan([{ op: 'mkdir', path: '/a', mode: 0o755 } as Op]);
  const shortened = Buffer.from(one.subarray(0, one.length - 1));
  shortened.writeUInt32LE(shortened.readUInt32LE(16) - 1, 16);
  assert.is(check(shortened), 'bad op 0');
  const padded = Buffer.concat([one, Buffer.from([0])]);
  padded.writeUInt32LE(padded.readUInt32LE(16) + 1, 16);
  assert.is(check(padded), 'bad op 0');
  // A plan cut in the middle of its ops.
  assert.match(check(plan.subarray(0, Math.floor(plan.length / 2))), /^bad op \d+$/);
});

test('capsa-init refuses an unknown op code and a string without its NUL', () => {
  const one = encodePlan([{ op: 'hostname', name: 'h' } as Op]);
  const unknown = Buffer.from(one);
  unknown.writeUInt16LE(999, 12);
  assert.is(check(unknown), 'bad op 0');
  const noNul = Buffer.from(one);
  noNul[noNul.length - 1] = 0x41; // the string's terminating NUL
  assert.is(check(noNul), 'bad op 0');
});

test.run();
