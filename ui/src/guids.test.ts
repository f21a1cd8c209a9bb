import { describe, expect, it } from 'vitest';
import { environmentNames, isGuid, nameGuids } from './guids';

const A = '64e4f268-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const B = '0b7e2c1a-9f3d-4a6b-b5c4-d3e2f1a0b9c8';
const UNKNOWN = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
const names = environmentNames([
  { guid: A, title: 'Team Python 3.11', name: 'ghcr.io/acme/py:3.11' },
  { guid: B, title: null, name: 'ghcr.io/acme/quarto:1.4' },
]);

describe('environmentNames', () => {
  it('names an environment by its title, else its image', () => {
    expect(names.get(A)).toBe('Team Python 3.11');
    expect(names.get(B)).toBe('ghcr.io/acme/quarto:1.4');
    expect(environmentNames([{ guid: A.toUpperCase(), title: '  ', name: 'img' }]).get(A)).toBe('img');
  });
});

describe('nameGuids', () => {
  it('replaces a listed environment’s guid by its name', () => {
    expect(nameGuids(`ranked below ${A}: Python: 3.11.7 (exact) beats 3.11.9`, names)).toEqual([
      'ranked below ',
      { guid: A, name: 'Team Python 3.11' },
      ': Python: 3.11.7 (exact) beats 3.11.9',
    ]);
  });

  it('replaces every guid, wherever it is, in any case', () => {
    expect(nameGuids(`${B} and ${A.toUpperCase()}`, names)).toEqual([
      { guid: B, name: 'ghcr.io/acme/quarto:1.4' },
      ' and ',
      { guid: A.toUpperCase(), name: 'Team Python 3.11' },
    ]);
  });

  it('leaves text without guids, and guids it does not know, as they are', () => {
    expect(nameGuids('no Python installation', names)).toEqual(['no Python installation']);
    expect(nameGuids(`ranked below ${UNKNOWN}`, names)).toEqual([`ranked below ${UNKNOWN}`]);
    expect(nameGuids(`${UNKNOWN} then ${A}`, names)).toEqual([`${UNKNOWN} then `, { guid: A, name: 'Team Python 3.11' }]);
    expect(nameGuids('', names)).toEqual([]);
  });
});

describe('isGuid', () => {
  it('accepts a guid, with spaces around, in either case; nothing else', () => {
    expect(isGuid(` ${A.toUpperCase()} `)).toBe(true);
    expect(isGuid(A.slice(0, 30))).toBe(false);
    expect(isGuid(`${A}x`)).toBe(false);
  });
});
