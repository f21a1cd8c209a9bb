import { useState } from 'react';

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone('Copied');
    } catch {
      setDone('Copy failed: select the text');
    }
    window.setTimeout(() => setDone(''), 2000);
  };
  return (
    <>
      <button type="button" className="btn small" onClick={copy} aria-label={label}>
        Copy
      </button>
      <span role="status" className="muted small-text">
        {done}
      </span>
    </>
  );
}
