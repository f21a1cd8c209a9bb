import { useEffect, useState } from 'react';
import { Link, navigate, usePath } from './router';
import { isAdmin, useSession } from './session';
import { SignIn } from './pages/SignIn';
import { Environments } from './pages/Environments';
import { Explain } from './pages/Explain';
import { Launches } from './pages/Launches';
import { LaunchDetail } from './pages/LaunchDetail';
import { Activity } from './pages/Activity';
import { NoAccess } from './pages/NoAccess';
import { SyncBanner } from './components/SyncBanner';

const ROLE_LABEL: Record<string, string> = { administrator: 'Administrator', publisher: 'Publisher', viewer: 'Viewer' };

export function App() {
  const { status, user, signOut } = useSession();
  const path = usePath();
  const [signOutError, setSignOutError] = useState('');

  // `/` and unknown paths go where they belong; signed-out visitors go to /sign-in.
  useEffect(() => {
    if (status === 'loading') return;
    if (status === 'signed-out' && path !== '/sign-in') navigate('/sign-in', { replace: true });
    else if (status === 'signed-in' && (path === '/' || path === '/sign-in')) navigate('/environments', { replace: true });
  }, [status, path]);

  useEffect(() => {
    const names: Record<string, string> = {
      '/sign-in': 'Sign in',
      '/environments': 'Environments',
      '/explain': 'Which environment?',
      '/launches': 'Launches',
      '/activity': 'Activity',
    };
    const name = names[path] ?? (path.startsWith('/launches/') ? 'Launch' : 'execenv');
    document.title = `${name} · execenv console`;
  }, [path]);

  if (status === 'loading') {
    return (
      <main id="main" className="page">
        <p role="status">Loading…</p>
      </main>
    );
  }

  if (status === 'signed-out' || !user) return <SignIn />;

  const admin = isAdmin(user);
  const viewer = user.user_role === 'viewer';
  const nav = [
    { to: '/environments', label: 'Environments' },
    { to: '/explain', label: 'Which environment?' },
    { to: '/launches', label: 'Launches' },
    ...(admin ? [{ to: '/activity', label: 'Activity' }] : []),
  ];

  let page;
  if (viewer) page = <NoAccess user={user} />;
  else if (path === '/environments') page = <Environments user={user} />;
  else if (path === '/explain') page = <Explain />;
  else if (path === '/launches') page = <Launches />;
  else if (path.startsWith('/launches/')) page = <LaunchDetail id={decodeURIComponent(path.slice('/launches/'.length))} />;
  else if (path === '/activity' && admin) page = <Activity />;
  else if (path === '/activity') page = <NotFound text="The audit trail is for administrators." />;
  else if (path === '/' || path === '/sign-in') page = null;
  else page = <NotFound text="There is no page here." />;

  const name = [user.first_name, user.last_name].filter(Boolean).join(' ') || user.username;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          execenv
        </div>
        {!viewer && (
          <nav aria-label="Main">
            <ul>
              {nav.map((n) => (
                <li key={n.to}>
                  <Link to={n.to} aria-current={path === n.to || (n.to === '/launches' && path.startsWith('/launches/')) ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <div className="who">
          <span className="user">
            {name} <span className="role">{ROLE_LABEL[user.user_role] ?? user.user_role}</span>
          </span>
          <button
            type="button"
            className="btn"
            onClick={() => {
              setSignOutError('');
              signOut().catch((e: Error) => setSignOutError(e.message));
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      {signOutError && (
        <p className="banner error" role="alert">
          Signing out failed: {signOutError}
        </p>
      )}
      {!viewer && <SyncBanner />}
      <main id="main" className="page">
        {page}
      </main>
    </>
  );
}

function NotFound({ text }: { text: string }) {
  return (
    <>
      <h1>Not found</h1>
      <p>{text}</p>
      <p>
        <Link to="/environments">Go to the environments</Link>
      </p>
    </>
  );
}
