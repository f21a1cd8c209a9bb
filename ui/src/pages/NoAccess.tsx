import type { User } from '../types';

export function NoAccess({ user }: { user: User }) {
  return (
    <section className="narrow">
      <h1 tabIndex={-1}>No access</h1>
      <p>
        You are signed in as <strong>{user.username}</strong>, a viewer. Viewers cannot see or use execution environments,
        launches or the audit trail.
      </p>
      <p>Ask an administrator to make you a publisher if you need to deploy content, then sign in again.</p>
    </section>
  );
}
