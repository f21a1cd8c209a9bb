import { useEffect, useRef } from 'react';
import { EXECENV } from './api';

// One EventSource per signed-in page on /__api__/execenv/v1/events; pages subscribe by event name.
type Handler = (data: unknown) => void;
const handlers = new Map<string, Set<Handler>>();
let source: EventSource | null = null;

function dispatch(name: string, raw: string) {
  let data: unknown = raw;
  try {
    data = JSON.parse(raw);
  } catch {
    // not JSON: pass the text
  }
  for (const h of handlers.get(name) ?? []) h(data);
}

export function startLive(): void {
  if (source || typeof EventSource === 'undefined') return;
  source = new EventSource(`${EXECENV}/events`);
  for (const name of ['ready', 'catalogue', 'sync']) {
    source.addEventListener(name, (e) => dispatch(name, (e as MessageEvent).data));
  }
  source.addEventListener('open', () => dispatch('open', ''));
  source.addEventListener('error', () => dispatch('error', ''));
}

export function stopLive(): void {
  source?.close();
  source = null;
}

export function onLive(name: string, handler: Handler): () => void {
  const set = handlers.get(name) ?? new Set();
  set.add(handler);
  handlers.set(name, set);
  return () => set.delete(handler);
}

/** Calls `handler` on every `name` event while the component is mounted. */
export function useLive(name: string, handler: Handler): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => onLive(name, (d) => ref.current(d)), [name]);
}
