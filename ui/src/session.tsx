import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, EXECENV, request, setCsrfToken, setUnauthorizedHandler } from './api';
import { startLive, stopLive } from './live';
import type { Session, User } from './types';

export type SessionStatus = 'loading' | 'signed-out' | 'signed-in';

interface SessionContextValue {
  status: SessionStatus;
  user: User | null;
  /** Why the previous session ended, shown on the sign-in page. */
  notice: string;
  signIn(apiKey: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<SessionContextValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<SessionStatus>('loading');
  const [user, setUser] = useState<User | null>(null);
  const [notice, setNotice] = useState('');

  const accept = useCallback((s: Session) => {
    setCsrfToken(s.csrf_token);
    setUser(s.user);
    setStatus('signed-in');
    setNotice('');
    startLive();
  }, []);

  const drop = useCallback((why: string) => {
    setCsrfToken(null);
    stopLive();
    setUser(null);
    setStatus('signed-out');
    setNotice(why);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => drop('Your session ended. Sign in again.'));
    let cancelled = false;
    request<Session>('GET', `${EXECENV}/session`, { quiet401: true })
      .then((s) => !cancelled && accept(s))
      .catch(() => !cancelled && drop(''));
    return () => {
      cancelled = true;
      setUnauthorizedHandler(null);
    };
  }, [accept, drop]);

  const signIn = useCallback(
    async (apiKey: string) => {
      const s = await request<Session>('POST', `${EXECENV}/session`, { body: { api_key: apiKey }, quiet401: true });
      accept(s);
    },
    [accept],
  );

  const signOut = useCallback(async () => {
    try {
      await request('DELETE', `${EXECENV}/session`, { quiet401: true });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    }
    drop('You signed out.');
  }, [drop]);

  const value = useMemo(() => ({ status, user, notice, signIn, signOut }), [status, user, notice, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

export function isAdmin(user: User | null): boolean {
  return user?.user_role === 'administrator';
}
