// The messages of containerd 1.6's shim protocol (field numbers from
// runtime/v2/task/shim.proto, api/types, api/events/task.proto,
// api/services/ttrpc/events/v1, runc options, runtimeoptions, ttrpc's
// Request/Response and google.rpc.Status). Type URLs are typeurl v1's: the
// proto message name without a "type.googleapis.com/" prefix.
import { message, type Schema } from './codec';

export const Timestamp = message('google.protobuf.Timestamp', [[1, 'seconds', 'int64'], [2, 'nanos', 'int32']]);
export const Any = message('google.protobuf.Any', [[1, 'typeUrl', 'string'], [2, 'value', 'bytes']]);
export const Empty = message('google.protobuf.Empty', []);

/** Go's zero time.Time as a Timestamp: what gogo's non-nullable stdtime fields carry when unset. */
export const GO_ZERO_TIME = { seconds: -62135596800, nanos: 0 };
const time = (no: number, name: string): [number, string, Schema, { zero: Record<string, unknown> }] => [no, name, Timestamp, { zero: GO_ZERO_TIME }];

export interface TimestampMsg { seconds?: number | bigint; nanos?: number }
export interface AnyMsg { typeUrl?: string; value?: Buffer }

// ---- ttrpc ----
export const KeyValue = message('ttrpc.KeyValue', [[1, 'key', 'string'], [2, 'value', 'string']]);
export const Request = message('ttrpc.Request', [
  [1, 'service', 'string'], [2, 'method', 'string'], [3, 'payload', 'bytes'], [4, 'timeoutNano', 'int64'], [5, 'metadata', KeyValue, { repeated: true }],
]);
export const Status = message('google.rpc.Status', [[1, 'code', 'int32'], [2, 'message', 'string'], [3, 'details', Any, { repeated: true }]]);
export const Response = message('ttrpc.Response', [[1, 'status', Status], [2, 'payload', 'bytes']]);

export interface RequestMsg { service?: string; method?: string; payload?: Buffer; timeoutNano?: number | bigint; metadata?: { key?: string; value?: string }[] }
export interface ResponseMsg { status?: { code?: number; message?: string }; payload?: Buffer }

// ---- containerd types ----
export const Mount = message('containerd.types.Mount', [[1, 'type', 'string'], [2, 'source', 'string'], [3, 'target', 'string'], [4, 'options', 'string', { repeated: true }]]);
export const ProcessInfo = message('containerd.v1.types.ProcessInfo', [[1, 'pid', 'uint32'], [2, 'info', Any]]);
export interface MountMsg { type?: string; source?: string; target?: string; options?: string[] }

export enum TaskStatus { UNKNOWN = 0, CREATED = 1, RUNNING = 2, STOPPED = 3, PAUSED = 4, PAUSING = 5 }

// ---- the Task service (containerd.task.v2.Task) ----
const id1 = [1, 'id', 'string'] as [number, string, 'string'];
const execId2 = [2, 'execId', 'string'] as [number, string, 'string'];

export const task = {
  CreateTaskRequest: message('containerd.task.v2.CreateTaskRequest', [
    id1, [2, 'bundle', 'string'], [3, 'rootfs', Mount, { repeated: true }], [4, 'terminal', 'bool'], [5, 'stdin', 'string'], [6, 'stdout', 'string'],
    [7, 'stderr', 'string'], [8, 'checkpoint', 'string'], [9, 'parentCheckpoint', 'string'], [10, 'options', Any],
  ]),
  CreateTaskResponse: message('containerd.task.v2.CreateTaskResponse', [[1, 'pid', 'uint32']]),
  DeleteRequest: message('containerd.task.v2.DeleteRequest', [id1, execId2]),
  DeleteResponse: message('containerd.task.v2.DeleteResponse', [[1, 'pid', 'uint32'], [2, 'exitStatus', 'uint32'], time(3, 'exitedAt')]),
  ExecProcessRequest: message('containerd.task.v2.ExecProcessRequest', [
    id1, execId2, [3, 'terminal', 'bool'], [4, 'stdin', 'string'], [5, 'stdout', 'string'], [6, 'stderr', 'string'], [7, 'spec', Any],
  ]),
  ResizePtyRequest: message('containerd.task.v2.ResizePtyRequest', [id1, execId2, [3, 'width', 'uint32'], [4, 'height', 'uint32']]),
  StateRequest: message('containerd.task.v2.StateRequest', [id1, execId2]),
  StateResponse: message('containerd.task.v2.StateResponse', [
    id1, [2, 'bundle', 'string'], [3, 'pid', 'uint32'], [4, 'status', 'enum'], [5, 'stdin', 'string'], [6, 'stdout', 'string'], [7, 'stderr', 'string'],
    [8, 'terminal', 'bool'], [9, 'exitStatus', 'uint32'], time(10, 'exitedAt'), [11, 'execId', 'string'],
  ]),
  KillRequest: message('containerd.task.v2.KillRequest', [id1, execId2, [3, 'signal', 'uint32'], [4, 'all', 'bool']]),
  CloseIORequest: message('containerd.task.v2.CloseIORequest', [id1, execId2, [3, 'stdin', 'bool']]),
  PidsRequest: message('containerd.task.v2.PidsRequest', [id1]),
  PidsResponse: message('containerd.task.v2.PidsResponse', [[1, 'processes', ProcessInfo, { repeated: true }]]),
  CheckpointTaskRequest: message('containerd.task.v2.CheckpointTaskRequest', [id1, [2, 'path', 'string'], [3, 'options', Any]]),
  UpdateTaskRequest: message('containerd.task.v2.UpdateTaskRequest', [id1, [2, 'resources', Any], [3, 'annotations', 'string', { map: true }]]),
  StartRequest: message('containerd.task.v2.StartRequest', [id1, execId2]),
  StartResponse: message('containerd.task.v2.StartResponse', [[1, 'pid', 'uint32']]),
  WaitRequest: message('containerd.task.v2.WaitRequest', [id1, execId2]),
  WaitResponse: message('containerd.task.v2.WaitResponse', [[1, 'exitStatus', 'uint32'], time(2, 'exitedAt')]),
  StatsRequest: message('containerd.task.v2.StatsRequest', [id1]),
  StatsResponse: message('containerd.task.v2.StatsResponse', [[1, 'stats', Any]]),
  ConnectRequest: message('containerd.task.v2.ConnectRequest', [id1]),
  ConnectResponse: message('containerd.task.v2.ConnectResponse', [[1, 'shimPid', 'uint32'], [2, 'taskPid', 'uint32'], [3, 'version', 'string']]),
  ShutdownRequest: message('containerd.task.v2.ShutdownRequest', [id1, [2, 'now', 'bool']]),
  PauseRequest: message('containerd.task.v2.PauseRequest', [id1]),
  ResumeRequest: message('containerd.task.v2.ResumeRequest', [id1]),
};

// ---- events (containerd.events) and their envelope ----
const cid1 = [1, 'containerId', 'string'] as [number, string, 'string'];
export const TaskIO = message('containerd.events.TaskIO', [[1, 'stdin', 'string'], [2, 'stdout', 'string'], [3, 'stderr', 'string'], [4, 'terminal', 'bool']]);
export const events = {
  TaskCreate: message('containerd.events.TaskCreate', [cid1, [2, 'bundle', 'string'], [3, 'rootfs', Mount, { repeated: true }], [4, 'io', TaskIO], [5, 'checkpoint', 'string'], [6, 'pid', 'uint32']]),
  TaskStart: message('containerd.events.TaskStart', [cid1, [2, 'pid', 'uint32']]),
  TaskExit: message('containerd.events.TaskExit', [cid1, [2, 'id', 'string'], [3, 'pid', 'uint32'], [4, 'exitStatus', 'uint32'], time(5, 'exitedAt')]),
  TaskDelete: message('containerd.events.TaskDelete', [cid1, [2, 'pid', 'uint32'], [3, 'exitStatus', 'uint32'], time(4, 'exitedAt'), [5, 'id', 'string']]),
  TaskOOM: message('containerd.events.TaskOOM', [cid1]),
  TaskExecAdded: message('containerd.events.TaskExecAdded', [cid1, [2, 'execId', 'string']]),
  TaskExecStarted: message('containerd.events.TaskExecStarted', [cid1, [2, 'execId', 'string'], [3, 'pid', 'uint32']]),
  TaskPaused: message('containerd.events.TaskPaused', [cid1]),
  TaskResumed: message('containerd.events.TaskResumed', [cid1]),
};
export type EventName = keyof typeof events;
/** The topic each event is published under. */
export const TOPICS: Record<EventName, string> = {
  TaskCreate: '/tasks/create', TaskStart: '/tasks/start', TaskExit: '/tasks/exit', TaskDelete: '/tasks/delete', TaskOOM: '/tasks/oom',
  TaskExecAdded: '/tasks/exec-added', TaskExecStarted: '/tasks/exec-started', TaskPaused: '/tasks/paused', TaskResumed: '/tasks/resumed',
};
export const Envelope = message('containerd.services.events.ttrpc.v1.Envelope', [[1, 'timestamp', Timestamp], [2, 'namespace', 'string'], [3, 'topic', 'string'], [4, 'event', Any]]);
export const ForwardRequest = message('containerd.services.events.ttrpc.v1.ForwardRequest', [[1, 'envelope', Envelope]]);

// ---- runtime options (the `start` stdin and CreateTaskRequest.options) ----
export const RuncOptions = message('containerd.runc.v1.Options', [
  [1, 'noPivotRoot', 'bool'], [2, 'noNewKeyring', 'bool'], [3, 'shimCgroup', 'string'], [4, 'ioUid', 'uint32'], [5, 'ioGid', 'uint32'],
  [6, 'binaryName', 'string'], [7, 'root', 'string'], [8, 'criuPath', 'string'], [9, 'systemdCgroup', 'bool'], [10, 'criuImagePath', 'string'], [11, 'criuWorkPath', 'string'],
]);
export const RuntimeOptions = message('runtimeoptions.v1.Options', [[1, 'typeUrl', 'string'], [2, 'configPath', 'string']]);
/** runtime/linux/runctypes CreateOptions: what ctr sends for --no-pivot with a non-runc runtime. */
export const LegacyCreateOptions = message('containerd.linux.runc.CreateOptions', [
  [1, 'noPivotRoot', 'bool'], [2, 'openTcp', 'bool'], [3, 'externalUnixSockets', 'bool'], [4, 'terminal', 'bool'], [5, 'fileLocks', 'bool'],
  [6, 'emptyNamespaces', 'string', { repeated: true }], [7, 'cgroupsMode', 'string'], [8, 'noNewKeyring', 'bool'], [9, 'shimCgroup', 'string'],
  [10, 'ioUid', 'uint32'], [11, 'ioGid', 'uint32'], [12, 'criuWorkPath', 'string'], [13, 'criuImagePath', 'string'],
]);
export const ProcessDetails = message('containerd.runc.v1.ProcessDetails', [[1, 'execId', 'string']]);

export const TYPE_URL = {
  process: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
  linuxResources: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources',
  metricsV1: 'io.containerd.cgroups.v1.Metrics',
  metricsV2: 'io.containerd.cgroups.v2.Metrics',
};
