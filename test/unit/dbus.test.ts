// capsa's D-Bus wire code (src/cgroups/dbus.ts) against GLib's GDBus, an
// independent implementation (python3-gi): each side decodes what the other
// encoded, for the calls the systemd driver makes and the JobRemoved signal.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { decodeMessage, encodeMessage, messageLength, parseSignature, systemBusPath, MESSAGE } from '../../src/cgroups/dbus';

const PY = '/usr/bin/python3';
const gdbus = (script: string, input?: Buffer) => execFileSync(PY, ['-c', `from gi.repository import Gio, GLib\nimport sys\n${script}`], { input, encoding: input ? 'utf8' : 'buffer' as never }) as unknown;

const START_BODY = ['u.scope', 'replace', [['Slice', ['s', 'x.slice']], ['Delegate', ['b', true]], ['PIDs', ['au', [1, 2]]], ['DefaultDependencies', ['b', false]]], []];

test('a message GDBus encodes decodes to the same header fields and body', () => {
  const blob = gdbus(`
m = Gio.DBusMessage.new_method_call('org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'StartTransientUnit')
m.set_serial(7)
m.set_body(GLib.Variant('(ssa(sv)a(sa(sv)))', ('u.scope', 'replace', [('Slice', GLib.Variant('s','x.slice')), ('Delegate', GLib.Variant('b', True)), ('PIDs', GLib.Variant('au', [1, 2])), ('DefaultDependencies', GLib.Variant('b', False))], [])))
sys.stdout.buffer.write(bytes(m.to_blob(Gio.DBusCapabilityFlags.NONE)))`) as Buffer;
  assert.is(messageLength(blob), blob.length);
  assert.is(messageLength(blob.subarray(0, blob.length - 1)), 0, 'incomplete: needs more bytes');
  const m = decodeMessage(blob);
  assert.is(m.type, MESSAGE.CALL);
  assert.is(m.serial, 7);
  assert.is(m.destination, 'org.freedesktop.systemd1');
  assert.is(m.path, '/org/freedesktop/systemd1');
  assert.is(m.interface, 'org.freedesktop.systemd1.Manager');
  assert.is(m.member, 'StartTransientUnit');
  assert.is(m.signature, 'ssa(sv)a(sa(sv))');
  assert.equal(m.body, START_BODY);
});

test('a message capsa encodes, GDBus decodes to the same call', () => {
  const ours = encodeMessage({
    type: MESSAGE.CALL, serial: 9, destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1',
    interface: 'org.freedesktop.systemd1.Manager', member: 'StartTransientUnit', signature: 'ssa(sv)a(sa(sv))', body: START_BODY,
  });
  const printed = gdbus(`
m = Gio.DBusMessage.new_from_blob(sys.stdin.buffer.read(), Gio.DBusCapabilityFlags.NONE)
print(m.get_serial(), m.get_destination(), m.get_path(), m.get_interface(), m.get_member(), m.get_signature())
print(m.get_body().print_(True))`, ours) as string;
  const [head, body] = printed.trim().split('\n');
  assert.is(head, '9 org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager StartTransientUnit ssa(sv)a(sa(sv))');
  assert.is(body, "('u.scope', 'replace', [('Slice', <'x.slice'>), ('Delegate', <true>), ('PIDs', <[uint32 1, 2]>), ('DefaultDependencies', <false>)], @a(sa(sv)) [])");
});

test('signals and errors as GDBus sends them: JobRemoved (uoss) and an error reply', () => {
  const blob = gdbus(`
s = Gio.DBusMessage.new_signal('/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'JobRemoved')
s.set_serial(3)
s.set_body(GLib.Variant('(uoss)', (12, '/org/freedesktop/systemd1/job/12', 'x.scope', 'done')))
call = Gio.DBusMessage.new_method_call('a.b', '/', 'a.b', 'M')
call.set_serial(5)
e = Gio.DBusMessage.new_method_error_literal(call, 'org.freedesktop.systemd1.NoSuchUnit', 'Unit x.scope not loaded.')
e.set_serial(4)
sys.stdout.buffer.write(bytes(s.to_blob(Gio.DBusCapabilityFlags.NONE)) + bytes(e.to_blob(Gio.DBusCapabilityFlags.NONE)))`) as Buffer;
  const first = messageLength(blob);
  const sig = decodeMessage(blob.subarray(0, first));
  assert.is(sig.type, MESSAGE.SIGNAL);
  assert.is(sig.member, 'JobRemoved');
  assert.equal(sig.body, [12, '/org/freedesktop/systemd1/job/12', 'x.scope', 'done']);
  const err = decodeMessage(blob.subarray(first));
  assert.is(err.type, MESSAGE.ERROR);
  assert.is(err.replySerial, 5);
  assert.is(err.errorName, 'org.freedesktop.systemd1.NoSuchUnit');
  assert.equal(err.body, ['Unit x.scope not loaded.']);
});

test('signatures, and the bus address', () => {
  assert.equal(parseSignature('a{sv}(iu)').map((t) => t.kind), ['array', 'struct']);
  assert.throws(() => parseSignature('a('), /ends early/);
  assert.throws(() => parseSignature('z'), /unknown type/);
  assert.is(systemBusPath({}), '/run/dbus/system_bus_socket');
  assert.is(systemBusPath({ DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/tmp/x%20y,guid=1' }), '/tmp/x y');
  assert.throws(() => systemBusPath({ DBUS_SYSTEM_BUS_ADDRESS: 'tcp:host=a' }), /only unix:path=/);
});

test.run();
