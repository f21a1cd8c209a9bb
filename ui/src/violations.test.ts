import { describe, expect, it } from 'vitest';
import { fieldId, fieldKey, mapViolations, resolveField } from './violations';
import { emptyMount, formFrom, knownFields } from './envform';

describe('fieldKey', () => {
  it('turns index brackets into dotted keys', () => {
    expect(fieldKey('python.installations[0].version')).toBe('python.installations.0.version');
    expect(fieldKey('volume_mounts[1].target.path')).toBe('volume_mounts.1.target.path');
    expect(fieldKey('name')).toBe('name');
    expect(fieldKey('$.r.installations[12].path')).toBe('r.installations.12.path');
  });
  it('makes ids that are valid and distinct', () => {
    expect(fieldId('python.installations.0.version')).toBe('f-python-installations-0-version');
    expect(fieldId('name')).toBe('f-name');
  });
});

describe('resolveField', () => {
  const form = formFrom();
  form.python = [{ version: '3.11', path: 'python3' }];
  form.volume_mounts = [emptyMount(), { ...emptyMount(), volume_type: 'nfs' }];
  const known = knownFields(form);

  it('maps a field the form has to itself', () => {
    expect(resolveField('python.installations[0].path', known)).toBe('python.installations.0.path');
    expect(resolveField('volume_mounts[1].source.nfs_host', known)).toBe('volume_mounts.1.source.nfs_host');
    expect(resolveField('volume_mounts[0].target.path', known)).toBe('volume_mounts.0.target.path');
    expect(resolveField('matching', known)).toBe('matching');
  });
  it('falls back to the nearest enclosing field', () => {
    // mount 0 is a PVC: an nfs_host violation belongs to the mount's source
    expect(resolveField('volume_mounts[0].source.nfs_host', known)).toBe('volume_mounts.0.source');
    expect(resolveField('volume_mounts[0].target.sub_path', known)).toBe('volume_mounts.0.target');
    expect(resolveField('python.installations[3].version', known)).toBe('python.installations');
    expect(resolveField('volume_mounts[5]', known)).toBe('volume_mounts');
  });
  it('gives the whole form what it cannot place', () => {
    expect(resolveField('environment_type', known)).toBe('');
    expect(resolveField('', known)).toBe('');
  });
  it('groups violations by field', () => {
    const m = mapViolations(
      [
        { field: 'name', description: 'required' },
        { field: 'python.installations[0].path', description: 'must be absolute' },
        { field: 'python.installations[0].path', description: 'again' },
        { field: 'id', description: 'server-set' },
      ],
      known,
    );
    expect(m.get('name')).toEqual(['required']);
    expect(m.get('python.installations.0.path')).toEqual(['must be absolute', 'again']);
    expect(m.get('')).toEqual(['server-set']);
  });
});
