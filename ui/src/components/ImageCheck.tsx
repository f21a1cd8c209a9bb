import { CHECK_LABELS, CHECK_MEANINGS, checkSummary, needsAttention, shortDigest } from '../checks';
import { formatTime } from '../format';
import type { CheckState, EnvironmentCheck } from '../types';

/**
 * The environments table's badge for an environment's check; drift and unreadable stand out.
 * `check` null: the gateway has no image examiner (nothing is shown but a dash).
 */
export function CheckBadge({ check, known }: { check: EnvironmentCheck | undefined; known: boolean }) {
  if (!known) {
    return (
      <span className="muted" title="No image examiner answers this gateway">
        —
      </span>
    );
  }
  const state: CheckState = check?.state ?? 'pending';
  const summary = check ? checkSummary(check) : CHECK_MEANINGS.pending;
  return (
    <span className={`pill check-${state}`} title={summary} data-check={state}>
      {needsAttention(state) && <span aria-hidden="true">⚠ </span>}
      {CHECK_LABELS[state]}
      <span className="sr-only">: {summary}</span>
    </span>
  );
}

/** An environment's check in its details: state, digest, when, each finding, or why the image is unreadable. */
export function CheckDetails({ check }: { check: EnvironmentCheck | undefined }) {
  if (!check) return <span className="muted">Not checked yet.</span>;
  return (
    <div className="check-details">
      <p>
        <span className={`pill check-${check.state}`}>{CHECK_LABELS[check.state]}</span> {checkSummary(check)}
      </p>
      <ul className="plain">
        <li>
          Digest:{' '}
          {check.digest ? (
            <code title={check.digest}>{shortDigest(check.digest)}</code>
          ) : (
            <span className="muted">not read</span>
          )}
          {check.previous_digest && (
            <span className="muted">
              {' '}
              (was <code title={check.previous_digest}>{shortDigest(check.previous_digest)}</code>)
            </span>
          )}
        </li>
        <li>Checked: {formatTime(check.checked_time)}</li>
        <li>State since: {formatTime(check.state_changed_time)}</li>
      </ul>
      {check.findings.length > 0 && (
        <ul className="findings" aria-label="Findings">
          {check.findings.map((f, i) => (
            <li key={i} className={f.drift ? 'finding drift' : 'finding'}>
              <span className="finding-kind">{f.drift ? 'Drift' : 'Notice'}</span> {f.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
