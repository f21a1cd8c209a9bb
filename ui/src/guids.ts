/** A guid (any UUID spelling the services answer: lowercase or uppercase hex). */
export const GUID_PATTERN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

export function isGuid(text: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text.trim());
}

/** A piece of a text with its guids named: plain text, or a guid and the name that replaces it. */
export type Piece = string | { guid: string; name: string };

/**
 * Splits `text` at every guid that `names` knows (keys in lowercase), e.g. an explain reason
 * "ranked below 64e4f268-…: Python …" with the environments of the answer. Unknown guids stay
 * in the text as they are. Empty text is left out.
 */
export function nameGuids(text: string, names: ReadonlyMap<string, string>): Piece[] {
  const out: Piece[] = [];
  let last = 0;
  const push = (s: string) => s && out.push(s);
  for (const m of text.matchAll(GUID_PATTERN)) {
    const name = names.get(m[0].toLowerCase());
    if (name === undefined) continue;
    push(text.slice(last, m.index));
    out.push({ guid: m[0], name });
    last = m.index + m[0].length;
  }
  push(text.slice(last));
  return out;
}

/** The name of each environment of an explain answer: its title, or its image when it has none. */
export function environmentNames(envs: Iterable<{ guid: string; title: string | null; name: string }>): Map<string, string> {
  const names = new Map<string, string>();
  for (const e of envs) names.set(e.guid.toLowerCase(), e.title?.trim() ? e.title : e.name);
  return names;
}
