import { CapsaError } from '../errors';

// runc's rule ([\w+-.]+), plus a length cap so the state dir name stays valid.
const ID_PATTERN = /^[A-Za-z0-9_+\-.]+$/;
export const MAX_ID_LENGTH = 250;

export function checkContainerId(id: string | undefined): string {
  if (id === undefined || id === '') throw new CapsaError('INVALID_ARGUMENT', 'container id cannot be empty');
  if (id.length > MAX_ID_LENGTH) throw new CapsaError('INVALID_ARGUMENT', `invalid container id: longer than ${MAX_ID_LENGTH} characters`);
  if (id === '.' || id === '..' || !ID_PATTERN.test(id)) throw new CapsaError('INVALID_ARGUMENT', `invalid container id format: ${id}`);
  return id;
}
