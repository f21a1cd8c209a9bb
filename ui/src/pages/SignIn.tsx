import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { useSession } from '../session';

export function SignIn() {
  const { signIn, notice } = useSession();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => input.current?.focus(), []);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    // The key is read from the field, sent in the POST body, and the field cleared: it is kept nowhere.
    const field = input.current;
    const key = field?.value.trim() ?? '';
    if (!key) {
      setError('Enter an API key.');
      field?.focus();
      return;
    }
    setBusy(true);
    setError('');
    try {
      await signIn(key);
      if (field) field.value = '';
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That API key is not valid.' : (err as Error).message);
      field?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <form className="card" method="post" action="/sign-in" onSubmit={submit} noValidate>
        <h1>
          <span className="logo" aria-hidden="true" /> execenv console
        </h1>
        <p>Sign in with a Connect API key (for example the one <code>make run</code> printed).</p>
        {notice && <p role="status">{notice}</p>}
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          ref={input}
          type="password"
          autoComplete="off"
          spellCheck={false}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'sign-in-error' : undefined}
        />
        {error && (
          <p id="sign-in-error" className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
