import { LANGUAGES, type Environment, type Installation, type Language } from './types';

export interface MountForm {
  volume_type: 'nfs' | 'pvc';
  nfs_host: string;
  nfs_export_path: string;
  pvc_name: string;
  path: string;
  read_only: boolean;
}

export interface EnvForm {
  name: string;
  title: string;
  description: string;
  cluster_name: string;
  matching: 'any' | 'exact' | 'none';
  supervisor: string;
  python: Installation[];
  r: Installation[];
  quarto: Installation[];
  tensorflow: Installation[];
  volume_mounts: MountForm[];
}

export function emptyMount(): MountForm {
  return { volume_type: 'pvc', nfs_host: '', nfs_export_path: '', pvc_name: '', path: '', read_only: false };
}

export function formFrom(env?: Environment): EnvForm {
  const inst = (lang: Language) => (env?.[lang]?.installations ?? []).map((i) => ({ version: i.version, path: i.path }));
  return {
    name: env?.name ?? '',
    title: env?.title ?? '',
    description: env?.description ?? '',
    cluster_name: env?.cluster_name ?? 'Kubernetes',
    matching: env?.matching ?? 'any',
    supervisor: env?.supervisor ?? '',
    python: inst('python'),
    r: inst('r'),
    quarto: inst('quarto'),
    tensorflow: inst('tensorflow'),
    volume_mounts: (env?.volume_mounts ?? []).map((m) => ({
      volume_type: m.source.volume_type,
      nfs_host: m.source.volume_type === 'nfs' ? m.source.nfs_host : '',
      nfs_export_path: m.source.volume_type === 'nfs' ? m.source.nfs_export_path : '',
      pvc_name: m.source.volume_type === 'pvc' ? m.source.pvc_name : '',
      path: m.target.path,
      read_only: !!m.target.read_only,
    })),
  };
}

const orNull = (s: string) => (s.trim() ? s.trim() : null);

/** The body of POST (with `name`) or PUT (every editable key but `name`, which cannot change). */
export function formBody(form: EnvForm, creating: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    title: orNull(form.title),
    description: form.description.trim() ? form.description : null,
    cluster_name: orNull(form.cluster_name),
    matching: form.matching,
    supervisor: orNull(form.supervisor),
  };
  if (creating) body.name = form.name.trim();
  for (const lang of LANGUAGES) {
    body[lang] = { installations: form[lang].map((i) => ({ version: i.version.trim(), path: i.path.trim() })) };
  }
  body.volume_mounts = form.volume_mounts.map((m) => ({
    source:
      m.volume_type === 'nfs'
        ? { volume_type: 'nfs', nfs_host: m.nfs_host.trim(), nfs_export_path: m.nfs_export_path.trim() }
        : { volume_type: 'pvc', pvc_name: m.pvc_name.trim() },
    target: { path: m.path.trim(), read_only: m.read_only },
  }));
  return body;
}

/** Every field key the form can show an error next to (see violations.ts). */
export function knownFields(form: EnvForm): Set<string> {
  const keys = new Set(['name', 'title', 'description', 'cluster_name', 'matching', 'supervisor', 'volume_mounts']);
  for (const lang of LANGUAGES) {
    keys.add(lang);
    keys.add(`${lang}.installations`);
    form[lang].forEach((_, i) => {
      keys.add(`${lang}.installations.${i}`);
      keys.add(`${lang}.installations.${i}.version`);
      keys.add(`${lang}.installations.${i}.path`);
    });
  }
  form.volume_mounts.forEach((m, i) => {
    const p = `volume_mounts.${i}`;
    keys.add(p);
    keys.add(`${p}.source`);
    keys.add(`${p}.source.volume_type`);
    if (m.volume_type === 'nfs') {
      keys.add(`${p}.source.nfs_host`);
      keys.add(`${p}.source.nfs_export_path`);
    } else keys.add(`${p}.source.pvc_name`);
    keys.add(`${p}.target`);
    keys.add(`${p}.target.path`);
    keys.add(`${p}.target.read_only`);
  });
  return keys;
}
