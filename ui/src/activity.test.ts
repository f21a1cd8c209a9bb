import { describe, expect, it } from 'vitest';
import { permissionChanges } from './activity';

const env = (permissions: unknown[]) => ({ guid: 'e1', title: 'T', permissions });

describe('permissionChanges', () => {
  it('names the entry a change added', () => {
    const before = env([{ guid: 'p1', environment_guid: 'e1', principal: { user: 'u1' } }]);
    const after = env([
      { guid: 'p1', environment_guid: 'e1', principal: { user: 'u1' } },
      { guid: 'p2', environment_guid: 'e1', principal: { group: 'g9' } },
    ]);
    expect(permissionChanges(before, after)).toEqual([{ change: 'added', kind: 'group', guid: 'g9' }]);
  });

  it('names the entry a change removed', () => {
    const before = env([{ guid: 'p1', environment_guid: 'e1', principal: { user: 'u1' } }]);
    expect(permissionChanges(before, env([]))).toEqual([{ change: 'removed', kind: 'user', guid: 'u1' }]);
  });

  it('finds nothing in states without access lists or with malformed entries', () => {
    expect(permissionChanges(null, { title: 'x' })).toEqual([]);
    expect(permissionChanges(env([null, 3, { guid: 'p' }]), env([{ principal: { user: 'u' } }]))).toEqual([]);
  });
});
