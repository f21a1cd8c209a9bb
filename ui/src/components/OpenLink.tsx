import { contentPath } from '../api';

/**
 * Opens a content where the gateway serves it, in a new tab: same origin as the console, so the
 * session cookie signs the visitor in; noopener keeps the app away from this page's window.
 */
export function OpenLink({ guid }: { guid: string }) {
  return (
    <a href={contentPath(guid)} target="_blank" rel="noopener" className="open-link" aria-label={`Open content ${guid} in a new tab`}>
      Open<span aria-hidden="true"> ↗</span>
    </a>
  );
}
