import { useEffect, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, V1, enc, examineImage } from '../api';
import { Dialog } from '../components/Dialog';
import { envTitle } from '../format';
import { emptyMount, formBody, formFrom, knownFields, type EnvForm, type MountForm } from '../envform';
import { fieldId, mapViolations } from '../violations';
import { LANGUAGES, LANGUAGE_LABELS, type Environment, type ImageExamination, type Installation, type Language } from '../types';
import { shortDigest } from '../checks';

interface Props {
  env?: Environment;
  onClose(): void;
  onSaved(env: Environment): void;
}

type Errors = Map<string, string[]>;

function ErrorText({ k, errors }: { k: string; errors: Errors }) {
  const list = errors.get(k);
  if (!list?.length) return null;
  return (
    <span id={`${fieldId(k)}-error`} className="field-error">
      {list.join(' ')}
    </span>
  );
}

function describe(k: string, errors: Errors, hint?: string) {
  const ids = [errors.get(k)?.length ? `${fieldId(k)}-error` : '', hint ?? ''].filter(Boolean).join(' ');
  return { id: fieldId(k), 'aria-invalid': errors.get(k)?.length ? true : undefined, 'aria-describedby': ids || undefined } as const;
}

function TextField(props: {
  k: string;
  label: ReactNode;
  value: string;
  onChange(v: string): void;
  errors: Errors;
  required?: boolean;
  disabled?: boolean;
  hint?: string;
  placeholder?: string;
  multiline?: boolean;
  className?: string;
}) {
  const { k, label, value, onChange, errors, required, disabled, hint, placeholder, multiline, className } = props;
  const hintId = hint ? `${fieldId(k)}-hint` : undefined;
  const common = { ...describe(k, errors, hintId), value, disabled, placeholder, required };
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={fieldId(k)}>{label}</label>
      {multiline ? (
        <textarea {...common} rows={3} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <input {...common} type="text" spellCheck={false} onChange={(e) => onChange(e.target.value)} />
      )}
      {hint && (
        <span id={hintId} className="hint">
          {hint}
        </span>
      )}
      <ErrorText k={k} errors={errors} />
    </div>
  );
}

export function EnvironmentDialog({ env, onClose, onSaved }: Props) {
  const creating = !env;
  const [form, setForm] = useState<EnvForm>(() => formFrom(env));
  const [errors, setErrors] = useState<Errors>(new Map());
  const [busy, setBusy] = useState(false);
  const [focusError, setFocusError] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  const [examining, setExamining] = useState(false);
  const [examined, setExamined] = useState<ImageExamination | null>(null);
  const [examineError, setExamineError] = useState('');

  const set = <K extends keyof EnvForm>(key: K, value: EnvForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  useEffect(() => {
    if (!focusError) return;
    const el = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]') ?? formRef.current?.querySelector<HTMLElement>('.form-errors');
    el?.focus();
  }, [focusError]);

  const submit = async () => {
    setBusy(true);
    try {
      const body = formBody(form, creating);
      const saved = creating
        ? await api.post<Environment>(`${V1}/environments`, body)
        : await api.put<Environment>(`${V1}/environments/${enc(env!.guid)}`, body);
      onSaved(saved);
      onClose();
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, String(e));
      const mapped = err.violations.length ? mapViolations(err.violations, knownFields(form)) : new Map([['', [err.message]]]);
      setErrors(mapped);
      setFocusError((n) => n + 1);
      setBusy(false);
    }
  };

  // Reads the typed image through the image examiner and fills the title and installations from
  // what it holds; nothing is saved until the person presses Create.
  const fillFromImage = async () => {
    setExamining(true);
    setExamineError('');
    setExamined(null);
    try {
      const answer = await examineImage(form.name.trim());
      const d = answer.definition;
      setForm((f) => ({
        ...f,
        title: d.title ?? f.title,
        python: d.python.installations.map((i) => ({ ...i })),
        r: d.r.installations.map((i) => ({ ...i })),
        quarto: d.quarto.installations.map((i) => ({ ...i })),
      }));
      setExamined(answer);
    } catch (e) {
      setExamineError(e instanceof Error ? e.message : String(e));
    } finally {
      setExamining(false);
    }
  };

  const general = errors.get('') ?? [];
  const count = [...errors.values()].reduce((n, l) => n + l.length, 0);

  return (
    <Dialog
      wide
      title={creating ? 'New environment' : `Edit ${envTitle(env!)}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="env-form" className="btn primary" disabled={busy}>
            {creating ? 'Create' : 'Save'}
          </button>
        </>
      }
    >
      <form
        id="env-form"
        ref={formRef}
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {count > 0 && (
          <div className="form-errors" role="alert" tabIndex={-1}>
            <strong>
              {count === 1 ? 'There is a problem' : `There are ${count} problems`}; nothing was saved.
            </strong>
            {general.length > 0 && (
              <ul>
                {general.map((g, i) => (
                  <li key={i}>{g}</li>
                ))}
              </ul>
            )}
          </div>
        )}
        <div className="grid2">
          <TextField
            k="name"
            label="Image"
            value={form.name}
            onChange={(v) => set('name', v)}
            errors={errors}
            required
            disabled={!creating}
            hint={creating ? 'The container image, e.g. ghcr.io/acme/py:3.11' : 'The image cannot change.'}
            className="mono-input"
          />
          <TextField k="title" label="Title" value={form.title} onChange={(v) => set('title', v)} errors={errors} />
          {creating && (
            <FillFromImage image={form.name} busy={examining} examined={examined} error={examineError} onFill={() => void fillFromImage()} />
          )}
          <TextField k="description" label="Description" value={form.description} onChange={(v) => set('description', v)} errors={errors} multiline className="span2" />
          <TextField k="cluster_name" label="Cluster" value={form.cluster_name} onChange={(v) => set('cluster_name', v)} errors={errors} hint="Kubernetes by default" />
          <div className="field">
            <label htmlFor={fieldId('matching')}>Matching</label>
            <select {...describe('matching', errors, 'matching-hint')} value={form.matching} onChange={(e) => set('matching', e.target.value as EnvForm['matching'])}>
              <option value="any">any: chosen automatically or on request</option>
              <option value="exact">exact: only when content asks for its image</option>
              <option value="none">none: never chosen automatically</option>
            </select>
            <span id="matching-hint" className="hint">
              When content may be given this environment
            </span>
            <ErrorText k="matching" errors={errors} />
          </div>
          <TextField
            k="supervisor"
            label="Supervisor"
            value={form.supervisor}
            onChange={(v) => set('supervisor', v)}
            errors={errors}
            hint="An absolute path, or empty for none"
            className="mono-input"
          />
        </div>

        {LANGUAGES.map((lang) => (
          <InstallationsEditor key={lang} lang={lang} rows={form[lang]} errors={errors} onChange={(rows) => set(lang, rows)} />
        ))}

        <MountsEditor rows={form.volume_mounts} errors={errors} onChange={(rows) => set('volume_mounts', rows)} />
      </form>
    </Dialog>
  );
}

/** The create dialog's "Fill from image": the button, what was read, or why it could not be. */
function FillFromImage({ image, busy, examined, error, onFill }: { image: string; busy: boolean; examined: ImageExamination | null; error: string; onFill(): void }) {
  const e = examined?.examination;
  const d = examined?.definition;
  const filled = d ? d.python.installations.length + d.r.installations.length + d.quarto.installations.length : 0;
  return (
    <div className="span2 fill-from-image">
      <button type="button" className="btn" onClick={onFill} disabled={busy || !image.trim()} aria-describedby="fill-hint">
        Fill from image
      </button>
      <span id="fill-hint" className="hint">
        Reads the image from its registry (nothing is run) and fills the title and installations; check them, then create.
      </span>
      <div className="examined" role="status" aria-live="polite">
        {busy && 'Reading the image…'}
        {e && d && (
          <>
            Read <code title={e.digest}>{shortDigest(e.digest)}</code> ({e.platform}): {filled === 1 ? '1 installation' : `${filled} installations`} filled in.
            {e.notes.length > 0 && (
              <ul aria-label="What the image examiner noted">
                {e.notes.map((n, i) => (
                  <li key={i}>{n}</li>
                ))}
              </ul>
            )}
          </>
        )}
      </div>
      {error && (
        <p className="field-error examined" role="alert">
          Could not read the image: {error}
        </p>
      )}
    </div>
  );
}

function InstallationsEditor({ lang, rows, errors, onChange }: { lang: Language; rows: Installation[]; errors: Errors; onChange(rows: Installation[]): void }) {
  const label = LANGUAGE_LABELS[lang];
  const groupErrors = [lang, `${lang}.installations`];
  const update = (i: number, patch: Partial<Installation>) => onChange(rows.map((r, n) => (n === i ? { ...r, ...patch } : r)));
  return (
    <fieldset className="group" id={fieldId(`${lang}.installations`)}>
      <legend>{label} installations</legend>
      {groupErrors.map((k) => (
        <ErrorText key={k} k={k} errors={errors} />
      ))}
      {rows.length === 0 && <p className="muted small-text">None.</p>}
      {rows.map((row, i) => {
        const base = `${lang}.installations.${i}`;
        return (
          <div className="row-fields" key={i}>
            <div className="field">
              <label htmlFor={fieldId(`${base}.version`)}>
                Version<span className="sr-only"> of {label} installation {i + 1}</span>
              </label>
              <input {...describe(`${base}.version`, errors)} value={row.version} placeholder="3.11.9" onChange={(e) => update(i, { version: e.target.value })} />
              <ErrorText k={`${base}.version`} errors={errors} />
            </div>
            <div className="field grow">
              <label htmlFor={fieldId(`${base}.path`)}>
                Path<span className="sr-only"> of {label} installation {i + 1}</span>
              </label>
              <input
                {...describe(`${base}.path`, errors)}
                className="mono-input"
                value={row.path}
                placeholder={lang === 'python' ? '/opt/python/3.11.9/bin/python3' : lang === 'r' ? '/opt/R/4.3.2/bin/R' : '/opt/quarto/bin/quarto'}
                onChange={(e) => update(i, { path: e.target.value })}
              />
              <ErrorText k={`${base}.path`} errors={errors} />
            </div>
            <button type="button" className="btn small remove" onClick={() => onChange(rows.filter((_, n) => n !== i))}>
              Remove<span className="sr-only"> {label} installation {i + 1}</span>
            </button>
            <ErrorText k={base} errors={errors} />
          </div>
        );
      })}
      <button type="button" className="btn small" onClick={() => onChange([...rows, { version: '', path: '' }])}>
        Add {label} installation
      </button>
    </fieldset>
  );
}

function MountsEditor({ rows, errors, onChange }: { rows: MountForm[]; errors: Errors; onChange(rows: MountForm[]): void }) {
  const update = (i: number, patch: Partial<MountForm>) => onChange(rows.map((r, n) => (n === i ? { ...r, ...patch } : r)));
  return (
    <fieldset className="group" id={fieldId('volume_mounts')}>
      <legend>Volume mounts</legend>
      <ErrorText k="volume_mounts" errors={errors} />
      {rows.length === 0 && <p className="muted small-text">None.</p>}
      {rows.map((m, i) => {
        const p = `volume_mounts.${i}`;
        const n = i + 1;
        return (
          <div className="mount" key={i} role="group" aria-label={`Volume mount ${n}`}>
            {[p, `${p}.source`, `${p}.target`].map((k) => (
              <ErrorText key={k} k={k} errors={errors} />
            ))}
            <div className="row-fields">
              <div className="field">
                <label htmlFor={fieldId(`${p}.source.volume_type`)}>
                  Type<span className="sr-only"> of volume mount {n}</span>
                </label>
                <select {...describe(`${p}.source.volume_type`, errors)} value={m.volume_type} onChange={(e) => update(i, { volume_type: e.target.value as 'nfs' | 'pvc' })}>
                  <option value="pvc">PVC</option>
                  <option value="nfs">NFS</option>
                </select>
                <ErrorText k={`${p}.source.volume_type`} errors={errors} />
              </div>
              {m.volume_type === 'nfs' ? (
                <>
                  <div className="field">
                    <label htmlFor={fieldId(`${p}.source.nfs_host`)}>
                      NFS host<span className="sr-only"> of volume mount {n}</span>
                    </label>
                    <input {...describe(`${p}.source.nfs_host`, errors)} value={m.nfs_host} onChange={(e) => update(i, { nfs_host: e.target.value })} />
                    <ErrorText k={`${p}.source.nfs_host`} errors={errors} />
                  </div>
                  <div className="field">
                    <label htmlFor={fieldId(`${p}.source.nfs_export_path`)}>
                      Export path<span className="sr-only"> of volume mount {n}</span>
                    </label>
                    <input {...describe(`${p}.source.nfs_export_path`, errors)} className="mono-input" value={m.nfs_export_path} onChange={(e) => update(i, { nfs_export_path: e.target.value })} />
                    <ErrorText k={`${p}.source.nfs_export_path`} errors={errors} />
                  </div>
                </>
              ) : (
                <div className="field">
                  <label htmlFor={fieldId(`${p}.source.pvc_name`)}>
                    Claim name<span className="sr-only"> of volume mount {n}</span>
                  </label>
                  <input {...describe(`${p}.source.pvc_name`, errors)} value={m.pvc_name} onChange={(e) => update(i, { pvc_name: e.target.value })} />
                  <ErrorText k={`${p}.source.pvc_name`} errors={errors} />
                </div>
              )}
              <div className="field grow">
                <label htmlFor={fieldId(`${p}.target.path`)}>
                  Target path<span className="sr-only"> of volume mount {n}</span>
                </label>
                <input {...describe(`${p}.target.path`, errors)} className="mono-input" value={m.path} placeholder="/data" onChange={(e) => update(i, { path: e.target.value })} />
                <ErrorText k={`${p}.target.path`} errors={errors} />
              </div>
              <div className="field check">
                <input type="checkbox" {...describe(`${p}.target.read_only`, errors)} checked={m.read_only} onChange={(e) => update(i, { read_only: e.target.checked })} />
                <label htmlFor={fieldId(`${p}.target.read_only`)}>
                  Read-only<span className="sr-only"> volume mount {n}</span>
                </label>
              </div>
              <button type="button" className="btn small remove" onClick={() => onChange(rows.filter((_, x) => x !== i))}>
                Remove<span className="sr-only"> volume mount {n}</span>
              </button>
            </div>
          </div>
        );
      })}
      <button type="button" className="btn small" onClick={() => onChange([...rows, emptyMount()])}>
        Add volume mount
      </button>
    </fieldset>
  );
}
