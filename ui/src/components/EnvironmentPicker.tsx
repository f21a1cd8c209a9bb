import { useEffect, useId, useState, type KeyboardEvent } from 'react';
import { api, EXECENV } from '../api';
import { envTitle } from '../format';
import { useDebounced } from '../useDebounced';
import type { Environment, EnvironmentPage } from '../types';

/**
 * A search-as-you-type environment field (the ARIA 1.2 combobox with a listbox popup): typing
 * asks the console's environments route for up to ten matches (debounced), which are offered
 * below the field; choosing one (click, or arrows and Enter) calls `onChoose`. The text itself
 * is the parent's (`text`, `onText`), so that a pasted guid can be used as it is.
 */
export function EnvironmentPicker({
  id,
  label,
  hint,
  text,
  onText,
  onChoose,
  onClear,
}: {
  id: string;
  label: string;
  hint: string;
  text: string;
  onText(text: string): void;
  onChoose(env: Environment): void;
  onClear(): void;
}) {
  const listId = useId();
  const hintId = useId();
  const [open, setOpen] = useState(false);
  const [results, setResults] = useState<Environment[]>([]);
  const [searched, setSearched] = useState('');
  const [active, setActive] = useState(-1);
  const query = useDebounced(text.trim(), 150);

  useEffect(() => {
    if (!open || !query) {
      setResults([]);
      setSearched('');
      return;
    }
    const ctl = new AbortController();
    api
      .get<EnvironmentPage>(`${EXECENV}/environments?search=${encodeURIComponent(query)}&page_size=10`, ctl.signal)
      .then((p) => {
        setResults(p.environments);
        setSearched(query);
        setActive(-1);
      })
      .catch(() => undefined); // an aborted or failed search offers nothing; the field still takes a guid
    return () => ctl.abort();
  }, [open, query]);

  const expanded = open && results.length > 0;
  const optionId = (i: number) => `${listId}-${i}`;

  const choose = (env: Environment) => {
    onChoose(env);
    setOpen(false);
    setActive(-1);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!open) setOpen(true);
      else if (results.length) {
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setActive((a) => (a < 0 ? (step > 0 ? 0 : results.length - 1) : (a + step + results.length) % results.length));
      }
    } else if (e.key === 'Enter' && expanded && active >= 0) {
      e.preventDefault();
      choose(results[active]);
    } else if (e.key === 'Escape') {
      if (expanded) {
        e.preventDefault();
        setOpen(false);
      } else if (text) {
        e.preventDefault();
        onClear();
      }
    }
  };

  return (
    <div className="field grow combo">
      <label htmlFor={id}>{label}</label>
      <div className="combo-row">
        <input
          id={id}
          type="text"
          role="combobox"
          autoComplete="off"
          spellCheck={false}
          aria-autocomplete="list"
          aria-expanded={expanded}
          aria-controls={listId}
          aria-activedescendant={expanded && active >= 0 ? optionId(active) : undefined}
          aria-describedby={hintId}
          value={text}
          onChange={(e) => {
            onText(e.target.value);
            setOpen(true);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => setOpen(false)}
        />
        {text && (
          <button type="button" className="btn small" aria-label={`Clear the ${label.toLowerCase()} filter`} onClick={onClear}>
            Clear
          </button>
        )}
      </div>
      <span id={hintId} className="hint">
        {open && searched && !results.length ? `No environment matches “${searched}”. ` : ''}
        {hint}
      </span>
      <ul id={listId} role="listbox" aria-label={`${label} suggestions`} className="combo-list" hidden={!expanded}>
        {results.map((env, i) => (
          <li
            key={env.guid}
            id={optionId(i)}
            role="option"
            aria-selected={i === active}
            onMouseDown={(e) => e.preventDefault()} // keep the focus in the field
            onClick={() => choose(env)}
          >
            {envTitle(env)}
            {env.title?.trim() ? <span className="combo-image"> {env.name}</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
