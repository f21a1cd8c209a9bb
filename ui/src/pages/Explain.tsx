import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, EXECENV } from '../api';
import { envTitle } from '../format';
import { environmentNames, nameGuids } from '../guids';
import type { Explanation } from '../types';
import { ScrollTable } from '../components/ScrollTable';

type Mode = 'manifest' | 'versions';

const SAMPLE = `{
  "version": 1,
  "metadata": { "appmode": "python-api", "entrypoint": "app" },
  "python": { "version": "3.11.9" }
}`;

const OUTCOME_LABEL: Record<string, string> = { chosen: 'Chosen', compatible: 'Compatible', rejected: 'Rejected', unknown: 'Unknown' };

export function Explain() {
  const [mode, setMode] = useState<Mode>('manifest');
  const [manifest, setManifest] = useState('');
  const [python, setPython] = useState('');
  const [r, setR] = useState('');
  const [quarto, setQuarto] = useState('');
  const [image, setImage] = useState('');
  const [result, setResult] = useState<Explanation | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const resultRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => heading.current?.focus({ preventScroll: true }), []);

  // The environments of the answer by guid, to name them where a reason refers to one.
  const names = useMemo(
    () =>
      environmentNames([
        ...(result?.verdicts ?? []).map((v) => ({ guid: v.environment_guid, title: v.title, name: v.name })),
        ...(result?.selection ? [result.selection.environment] : []),
      ]),
    [result],
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    let body: unknown;
    if (mode === 'manifest') {
      try {
        body = JSON.parse(manifest);
      } catch (err) {
        setError(`The manifest is not valid JSON: ${(err as Error).message}`);
        return;
      }
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        setError('The manifest must be a JSON object.');
        return;
      }
      body = { manifest: body };
    } else {
      const req: Record<string, string> = {};
      if (python.trim()) req.python_version = python.trim();
      if (r.trim()) req.r_version = r.trim();
      if (quarto.trim()) req.quarto_version = quarto.trim();
      if (image.trim()) req.target_image = image.trim();
      body = { requirements: req };
    }
    setBusy(true);
    try {
      const answer = await api.post<Explanation>(`${EXECENV}/explain`, body);
      setResult(answer);
      window.setTimeout(() => resultRef.current?.focus(), 0);
    } catch (err) {
      setResult(null);
      if (err instanceof ApiError && err.violations.length) {
        setError(`${err.message}: ${err.violations.map((v) => (v.field ? `${v.field}: ${v.description}` : v.description)).join('; ')}`);
      } else setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        Which environment?
      </h1>
      <p className="muted">What the selector would choose for content, and every environment's verdict with its reasons.</p>
      <form className="card" onSubmit={submit} noValidate>
        <fieldset className="mode">
          <legend>Describe the content by</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'manifest'} onChange={() => setMode('manifest')} /> its manifest.json
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'versions'} onChange={() => setMode('versions')} /> the versions it needs
          </label>
        </fieldset>
        {mode === 'manifest' ? (
          <div className="field">
            <label htmlFor="manifest">manifest.json</label>
            <textarea id="manifest" className="mono-input" rows={10} spellCheck={false} value={manifest} placeholder={SAMPLE} onChange={(e) => setManifest(e.target.value)} />
          </div>
        ) : (
          <div className="grid2">
            <div className="field">
              <label htmlFor="req-python">Python version</label>
              <input id="req-python" value={python} placeholder="3.11.9" onChange={(e) => setPython(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="req-r">R version</label>
              <input id="req-r" value={r} placeholder="4.3.2" onChange={(e) => setR(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="req-quarto">Quarto version</label>
              <input id="req-quarto" value={quarto} placeholder="1.4.550" onChange={(e) => setQuarto(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="req-image">Image asked for (optional)</label>
              <input id="req-image" value={image} onChange={(e) => setImage(e.target.value)} />
            </div>
          </div>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          Explain
        </button>
      </form>
      {error && (
        <p className="banner error" role="alert">
          {error}
        </p>
      )}
      {result && (
        <section aria-labelledby="explain-result">
          <h2 id="explain-result" ref={resultRef} tabIndex={-1}>
            Result
          </h2>
          {result.selection ? (
            <div className="selection" role="status">
              <p>
                <strong>Chosen: {envTitle(result.selection.environment)}</strong> (<code>{result.selection.environment.name}</code>), selected by{' '}
                {result.selection.selected_by}.
              </p>
              {result.selection.installations.length > 0 && (
                <ul className="plain">
                  {result.selection.installations.map((i) => (
                    <li key={i.language}>
                      {i.language} {i.version} <code>{i.path}</code> ({i.closeness})
                    </li>
                  ))}
                </ul>
              )}
            </div>
          ) : (
            <p className="banner warn" role="status">
              <strong>No environment fits.</strong> <Named text={result.error} names={names} />
            </p>
          )}
          <ScrollTable label="Verdicts" columns={['Environment', 'Image', 'Verdict', 'Reasons']}>
            {result.verdicts.map((v) => (
              <tr key={v.environment_guid}>
                <th scope="row">{v.title || v.name}</th>
                <td className="mono">{v.name}</td>
                <td>
                  <span className={`pill ${v.outcome}`}>{OUTCOME_LABEL[v.outcome] ?? v.outcome}</span>
                </td>
                <td>
                  {v.drift && <span className="small-text block warn-text">{v.drift}</span>}
                  {v.reasons.length ? (
                    <ul className="plain">
                      {v.reasons.map((x, i) => (
                        <li key={i}>
                          <Named text={x} names={names} />
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <span className="muted">—</span>
                  )}
                  {v.installations.length > 0 && (
                    <span className="muted small-text">
                      {' '}
                      uses {v.installations.map((i) => `${i.language} ${i.version} (${i.closeness})`).join(', ')}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </ScrollTable>
          <p className="muted small-text">Catalogue revision {result.revision}.</p>
        </section>
      )}
    </>
  );
}

/** A text with the guid of every environment `names` knows shown as its name (the guid on hover and to assistive technology). */
function Named({ text, names }: { text: string; names: ReadonlyMap<string, string> }) {
  return (
    <>
      {nameGuids(text, names).map((p, i) =>
        typeof p === 'string' ? (
          p
        ) : (
          <abbr key={i} className="env-ref" title={`environment ${p.guid}`} data-guid={p.guid}>
            {p.name}
          </abbr>
        ),
      )}
    </>
  );
}
