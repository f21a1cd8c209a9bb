export type Role = 'administrator' | 'publisher' | 'viewer';

export interface User {
  guid: string;
  username: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  user_role: Role;
  locked?: boolean;
}

export interface Group {
  guid: string;
  name: string;
}

export interface Session {
  user: User;
  csrf_token: string;
  expires_time: string;
}

export type Language = 'python' | 'r' | 'quarto' | 'tensorflow';
export const LANGUAGES: Language[] = ['python', 'r', 'quarto', 'tensorflow'];
export const LANGUAGE_LABELS: Record<Language, string> = {
  python: 'Python',
  r: 'R',
  quarto: 'Quarto',
  tensorflow: 'TensorFlow',
};

export interface Installation {
  version: string;
  path: string;
}

export interface Installations {
  installations: Installation[];
}

export type VolumeSource =
  | { volume_type: 'nfs'; nfs_host: string; nfs_export_path: string }
  | { volume_type: 'pvc'; pvc_name: string };

export interface VolumeMount {
  source: VolumeSource;
  target: { path: string; read_only: boolean | null };
}

export interface Permission {
  id?: string;
  guid: string;
  environment_guid?: string;
  user_guid: string | null;
  group_guid: string | null;
}

export interface Environment {
  id: string;
  guid: string;
  created_time: string | null;
  updated_time: string | null;
  title: string | null;
  description: string | null;
  cluster_name: string | null;
  name: string;
  environment_type: string;
  matching: 'any' | 'exact' | 'none';
  supervisor: string | null;
  managed_by: string | null;
  python: Installations | null;
  quarto: Installations | null;
  r: Installations | null;
  tensorflow: Installations | null;
  volume_mounts: VolumeMount[] | null;
  permissions?: Permission[];
  revision?: number;
}

export interface EnvironmentPage {
  environments: Environment[];
  total: number;
  next_page_token: string;
}

export interface SyncStatus {
  configured: boolean;
  file?: string;
  outcome?: 'ok' | 'failed' | 'never';
  last_sync_time?: string | null;
  last_success_time?: string | null;
  error?: string;
  problems?: string[];
  managed_count?: number;
}

export interface ChosenInstallation {
  language: Language;
  version: string;
  path: string;
  closeness: string;
}

export interface Verdict {
  environment_guid: string;
  name: string;
  title: string | null;
  outcome: 'chosen' | 'compatible' | 'rejected' | 'unknown';
  reasons: string[];
  installations: ChosenInstallation[];
  /** The image examiner's line when the image is in drift or unreadable; null otherwise. */
  drift: string | null;
}

export interface Explanation {
  verdicts: Verdict[];
  selection: {
    environment: Environment;
    installations: ChosenInstallation[];
    selected_by: string;
    revision: number;
  } | null;
  error: string;
  revision: number;
  catalogue_age_seconds: number;
}

export type LaunchState = 'pending' | 'running' | 'ready' | 'succeeded' | 'failed' | 'cancelled' | 'unknown';

/** build and run end by themselves; an interactive launch serves an app until it is stopped. */
export type LaunchKind = 'build' | 'run' | 'interactive' | 'unknown';

export interface Launch {
  id: string;
  kind: LaunchKind;
  content_guid: string;
  bundle: string;
  state: LaunchState;
  reason: string;
  message: string;
  exit_code: number | null;
  environment_guid: string;
  environment_title: string;
  image: string;
  installations: { language: string; version: string; path: string }[];
  selected_by: string;
  backend: string;
  job_name: string;
  namespace: string;
  created_time: string | null;
  started_time: string | null;
  finished_time: string | null;
  /** Interactive: where the app answers (`host:port`); empty until known. */
  address: string;
  /** Interactive: how many times the app was restarted after it exited. */
  restarts: number;
  /** Interactive: when it first answered; minus `created_time`, its cold start. */
  ready_time: string | null;
}

/** One instance of interactive content on this gateway (`GET /__api__/execenv/v1/instances`). */
export interface Instance {
  content_guid: string;
  launch_id: string;
  bundle: string;
  state: 'starting' | 'ready';
  address: string;
  cold_start_ms: number | null;
  requests: number;
  websockets: number;
  last_request_time: string | null;
  /** When it is stopped unless used before; null when idle instances are never stopped. */
  idle_stop_time: string | null;
}

export interface InstanceTotals {
  cold_starts: number;
  idle_stops: number;
  requests: number;
  /** Latency of proxied requests; null before the first one. */
  request_p50_ms: number | null;
  request_p99_ms: number | null;
}

export interface Instances {
  idle_timeout_s: number;
  instances: Instance[];
  totals: InstanceTotals;
}

export interface Change {
  revision: number;
  time: string | null;
  actor: string;
  source: string;
  action: string;
  environment_guid: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface ChangesPage {
  changes: Change[];
  next_page_token: string;
}

/** How an environment stands against its image, as the image examiner last checked it. */
export type CheckState = 'pending' | 'ok' | 'drift' | 'unreadable';

/** One finding of a check: drift (`missing`, `version_mismatch`) or a notice. */
export interface Finding {
  kind: 'missing' | 'version_mismatch' | 'version_unknown' | 'tag_moved' | 'undeclared';
  drift: boolean;
  language: string | null;
  path: string | null;
  declared_version: string | null;
  found_version: string | null;
  message: string;
}

/** `GET /__api__/execenv/v1/environments/{guid}/check` and each entry of `GET /checks`. */
export interface EnvironmentCheck {
  guid: string;
  image: string;
  title: string | null;
  state: CheckState;
  digest: string | null;
  previous_digest: string | null;
  findings: Finding[];
  unreadable: { kind: 'not_found' | 'unauthorized' | 'unreachable' | 'invalid'; message: string } | null;
  checked_time: string | null;
  state_changed_time: string | null;
  revision: number;
}

export interface ChecksPage {
  checks: EnvironmentCheck[];
  interval_seconds: number;
}

/** One installation the image examiner found in an image. */
export interface FoundInstallation {
  language: string;
  path: string;
  version: string | null;
  version_file: string | null;
  problem: string | null;
}

/** `POST /__api__/execenv/v1/images/examine`: what the image holds and a definition from it. */
export interface ImageExamination {
  examination: {
    image: string;
    digest: string;
    platform: string;
    installations: FoundInstallation[];
    notes: string[];
    examined_time: string | null;
    cached: boolean;
    layers: number;
    layer_bytes: number;
  };
  definition: {
    name: string;
    title: string | null;
    python: Installations;
    r: Installations;
    quarto: Installations;
  };
}
