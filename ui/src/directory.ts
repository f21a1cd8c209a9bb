import { api, V1 } from './api';
import type { Group, User } from './types';

// Users and groups by guid, to name the entries of access lists and the actors of changes
// (administrators only). Read once; `fresh` reads it again (users come and go).
let cache: Promise<{ users: Map<string, User>; groups: Map<string, Group> }> | null = null;

export function directory(fresh = false) {
  if (!cache || fresh) {
    cache = Promise.all([
      api.get<{ results: User[] }>(`${V1}/users`),
      api.get<{ results: Group[] }>(`${V1}/groups`),
    ])
      .then(([u, g]) => ({
        users: new Map(u.results.map((x) => [x.guid, x])),
        groups: new Map(g.results.map((x) => [x.guid, x])),
      }))
      .catch((e) => {
        cache = null;
        throw e;
      });
  }
  return cache;
}

export function searchUsers(prefix: string, signal?: AbortSignal) {
  return api.get<{ results: User[] }>(`${V1}/users?prefix=${encodeURIComponent(prefix)}`, signal).then((r) => r.results);
}

export function searchGroups(prefix: string, signal?: AbortSignal) {
  return api.get<{ results: Group[] }>(`${V1}/groups?prefix=${encodeURIComponent(prefix)}`, signal).then((r) => r.results);
}
