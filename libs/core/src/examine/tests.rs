//! The examination rules over a small in-memory tree (files, folders, symlinks).

use std::collections::BTreeMap;

use super::*;

enum Node {
    Dir,
    File(bool, Vec<u8>),
    Link(String),
}

/// A merged tree given as a list of entries; symlinks resolved the way an image's are.
#[derive(Default)]
struct Tree(BTreeMap<String, Node>);

impl Tree {
    fn dir(mut self, p: &str) -> Self {
        self.0.insert(p.into(), Node::Dir);
        self
    }
    fn exe(mut self, p: &str) -> Self {
        self.0.insert(p.into(), Node::File(true, vec![]));
        self
    }
    fn file(mut self, p: &str, text: &str) -> Self {
        self.0
            .insert(p.into(), Node::File(false, text.as_bytes().to_vec()));
        self
    }
    fn link(mut self, p: &str, target: &str) -> Self {
        self.0.insert(p.into(), Node::Link(target.into()));
        self
    }

    fn walk(&self, path: &str, depth: usize) -> Option<String> {
        if depth > 40 {
            return None;
        }
        let mut done = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let next = if *part == ".." {
                done.rsplit_once('/')
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default()
            } else {
                format!("{done}/{part}")
            };
            match self.0.get(&next)? {
                Node::Link(target) => {
                    let base = if target.starts_with('/') {
                        target.clone()
                    } else {
                        format!("{done}/{target}")
                    };
                    let rest = parts[i + 1..].join("/");
                    let full = if rest.is_empty() {
                        base
                    } else {
                        format!("{base}/{rest}")
                    };
                    return self.walk(&full, depth + 1);
                }
                _ => done = next,
            }
        }
        Some(if done.is_empty() { "/".into() } else { done })
    }
}

impl ImageFiles for Tree {
    fn kind(&self, path: &str) -> Option<FileKind> {
        let r = self.walk(path, 0)?;
        match self.0.get(&r)? {
            Node::Dir => Some(FileKind::Dir),
            Node::File(x, b) => Some(FileKind::File {
                executable: *x,
                size: b.len() as u64,
            }),
            Node::Link(_) => None,
        }
    }
    fn list(&self, path: &str) -> Option<Vec<String>> {
        let r = self.walk(path, 0)?;
        matches!(self.0.get(&r)?, Node::Dir).then(|| {
            self.0
                .keys()
                .filter_map(|k| k.strip_prefix(&format!("{r}/")).map(str::to_string))
                .filter(|k| !k.contains('/'))
                .collect()
        })
    }
    fn resolve(&self, path: &str) -> Option<String> {
        let r = self.walk(path, 0)?;
        self.0.contains_key(&r).then_some(r)
    }
    fn content(&self, path: &str) -> Content<'_> {
        match self.walk(path, 0).and_then(|r| self.0.get(&r)) {
            Some(Node::File(_, b)) if wants_content(&self.walk(path, 0).unwrap_or_default()) => {
                Content::Bytes(b)
            }
            Some(Node::File(..)) => Content::NotCaptured,
            _ => Content::Missing,
        }
    }
}

fn posit_python(t: Tree, v: &str) -> Tree {
    let minor = v.rsplit_once('.').map_or(v, |(head, _)| head).to_string();
    t.dir(&format!("/opt/python/{v}"))
        .dir(&format!("/opt/python/{v}/bin"))
        .exe(&format!("/opt/python/{v}/bin/python3"))
        .dir(&format!("/opt/python/{v}/include"))
        .dir(&format!("/opt/python/{v}/include/python{minor}"))
        .file(
            &format!("/opt/python/{v}/include/python{minor}/patchlevel.h"),
            &format!(
                "/* comment */\n#define PY_MINOR_VERSION 11\n#define PY_VERSION      \"{v}\"\n"
            ),
        )
}

fn base() -> Tree {
    Tree::default().dir("/opt").dir("/opt/python").dir("/usr")
}

#[test]
fn posit_layout_python_versions_come_from_patchlevel_h() {
    let t = posit_python(posit_python(base(), "3.11.9"), "3.12.4");
    let f = find_installations(&t);
    let got: Vec<(&str, Option<&str>)> = f
        .installations
        .iter()
        .map(|i| (i.path.as_str(), i.version.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("/opt/python/3.11.9/bin/python3", Some("3.11.9")),
            ("/opt/python/3.12.4/bin/python3", Some("3.12.4")),
        ]
    );
    assert_eq!(
        f.installations[0].version_file.as_deref(),
        Some("/opt/python/3.11.9/include/python3.11/patchlevel.h")
    );
    assert!(f.notes.is_empty(), "{:?}", f.notes);
}

#[test]
fn debian_style_symlinked_interpreter_finds_the_header_under_the_resolved_prefix() {
    let t = base()
        .dir("/opt/python/3.11.2")
        .dir("/opt/python/3.11.2/bin")
        .link("/opt/python/3.11.2/bin/python3", "/usr/bin/python3.11")
        .dir("/usr/bin")
        .exe("/usr/bin/python3.11")
        .dir("/usr/include")
        .dir("/usr/include/python3.11")
        .dir("/usr/include/python3.10")
        .file(
            "/usr/include/python3.10/patchlevel.h",
            "#define PY_VERSION \"3.10.1\"",
        )
        .file(
            "/usr/include/python3.11/patchlevel.h",
            "#define PY_VERSION \"3.11.2\"",
        );
    let f = find_installations(&t);
    assert_eq!(f.installations.len(), 1);
    assert_eq!(f.installations[0].version.as_deref(), Some("3.11.2"));
    assert_eq!(
        f.installations[0].version_file.as_deref(),
        Some("/usr/include/python3.11/patchlevel.h")
    );
}

#[test]
fn r_version_joins_major_and_minor_through_a_symlinked_include_folder() {
    let t = Tree::default()
        .dir("/opt")
        .dir("/opt/R")
        .dir("/opt/R/4.2.2")
        .dir("/opt/R/4.2.2/bin")
        .link("/opt/R/4.2.2/bin/R", "/usr/bin/R")
        .link("/opt/R/4.2.2/lib", "/usr/lib")
        .dir("/usr")
        .dir("/usr/bin")
        .exe("/usr/bin/R")
        .dir("/usr/lib")
        .dir("/usr/lib/R")
        .link("/usr/lib/R/include", "../../share/R/include")
        .dir("/usr/share")
        .dir("/usr/share/R")
        .dir("/usr/share/R/include")
        .file(
            "/usr/share/R/include/Rversion.h",
            "#define R_MAJOR  \"4\"\n#define R_MINOR  \"2.2\"\n#define R_STATUS \"\"\n",
        );
    let f = find_installations(&t);
    assert_eq!(f.installations.len(), 1);
    let r = &f.installations[0];
    assert_eq!(
        (r.language, r.path.as_str()),
        (Language::R, "/opt/R/4.2.2/bin/R")
    );
    assert_eq!(r.version.as_deref(), Some("4.2.2"));
    assert_eq!(
        r.version_file.as_deref(),
        Some("/usr/share/R/include/Rversion.h")
    );
}

#[test]
fn debian_r_reads_its_version_from_share_r_include_without_an_include_link() {
    // Debian's r-base-core: /usr/lib/R has no include folder; R_INCLUDE_DIR is /usr/share/R/include.
    let t = Tree::default()
        .dir("/opt")
        .dir("/opt/R")
        .dir("/opt/R/4.2.2")
        .dir("/opt/R/4.2.2/bin")
        .link("/opt/R/4.2.2/bin/R", "/usr/bin/R")
        .dir("/opt/R/4.2.2/lib")
        .link("/opt/R/4.2.2/lib/R", "/usr/lib/R")
        .dir("/usr")
        .dir("/usr/bin")
        .exe("/usr/bin/R")
        .dir("/usr/lib")
        .dir("/usr/lib/R")
        .dir("/usr/share")
        .dir("/usr/share/R")
        .dir("/usr/share/R/include")
        .file(
            "/usr/share/R/include/Rversion.h",
            "#define R_MAJOR  \"4\"\n#define R_MINOR  \"2.2\"\n",
        );
    let f = find_installations(&t);
    assert_eq!(f.installations.len(), 1);
    assert_eq!(f.installations[0].version.as_deref(), Some("4.2.2"));
    assert_eq!(
        f.installations[0].version_file.as_deref(),
        Some("/usr/share/R/include/Rversion.h")
    );
    assert_eq!(f.notes, Vec::<String>::new());
}

#[test]
fn a_single_quarto_at_the_root_is_one_installation() {
    let t = Tree::default()
        .dir("/opt")
        .dir("/opt/quarto")
        .dir("/opt/quarto/bin")
        .exe("/opt/quarto/bin/quarto")
        .dir("/opt/quarto/share")
        .file("/opt/quarto/share/version", "1.4.550\n");
    let f = find_installations(&t);
    assert_eq!(f.installations.len(), 1);
    assert_eq!(f.installations[0].path, "/opt/quarto/bin/quarto");
    assert_eq!(f.installations[0].version.as_deref(), Some("1.4.550"));
}

#[test]
fn opt_local_variants_and_bin_python_are_found() {
    let t = Tree::default()
        .dir("/opt")
        .dir("/opt/local")
        .dir("/opt/local/python")
        .dir("/opt/local/python/bin")
        .exe("/opt/local/python/bin/python")
        .dir("/opt/local/R")
        .dir("/opt/local/R/4.3.1")
        .dir("/opt/local/R/4.3.1/bin")
        .exe("/opt/local/R/4.3.1/bin/R");
    let f = find_installations(&t);
    let paths: Vec<&str> = f.installations.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/opt/local/python/bin/python", "/opt/local/R/4.3.1/bin/R"]
    );
}

#[test]
fn a_missing_version_file_is_said_not_guessed() {
    let t = base()
        .dir("/opt/python/3.11.9")
        .dir("/opt/python/3.11.9/bin")
        .exe("/opt/python/3.11.9/bin/python3");
    let f = find_installations(&t);
    let p = &f.installations[0];
    assert_eq!(p.version, None, "the folder name is not a version source");
    assert_eq!(
        p.problem.as_deref(),
        Some(
            "no include/python3.X/patchlevel.h under /opt/python/3.11.9: the version cannot be read from the image's files"
        )
    );
    assert_eq!(f.notes.len(), 1);
    assert!(f.notes[0].starts_with("Python /opt/python/3.11.9/bin/python3: no include/"));
}

#[test]
fn a_symlinked_minor_folder_is_an_alias_of_the_real_one() {
    let t = posit_python(base(), "3.11.9").link("/opt/python/3.11", "3.11.9");
    let f = find_installations(&t);
    let got: Vec<(&str, Option<&str>, Option<&str>)> = f
        .installations
        .iter()
        .map(|i| (i.path.as_str(), i.version.as_deref(), i.alias_of.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "/opt/python/3.11/bin/python3",
                Some("3.11.9"),
                Some("/opt/python/3.11.9/bin/python3")
            ),
            ("/opt/python/3.11.9/bin/python3", Some("3.11.9"), None),
        ]
    );
    let spec = suggest_spec("reg.example/py:3.11", &f);
    assert_eq!(spec.python.len(), 1, "aliases are left out of suggestions");
    assert_eq!(spec.python[0].path, "/opt/python/3.11.9/bin/python3");
}

#[test]
fn an_image_without_installations_says_where_it_looked() {
    let f = find_installations(&Tree::default().dir("/usr"));
    assert!(f.installations.is_empty());
    assert_eq!(f.notes.len(), 1);
    assert!(
        f.notes[0].starts_with("no Python, R or Quarto installation in the image"),
        "{}",
        f.notes[0]
    );
    assert!(f.notes[0].contains(
        "/opt/python, /opt/local/python, /opt/R, /opt/local/R, /opt/quarto, /opt/local/quarto"
    ));
}

#[test]
fn a_non_executable_file_is_no_installation() {
    let t = base()
        .dir("/opt/python/3.11.9")
        .dir("/opt/python/3.11.9/bin")
        .file("/opt/python/3.11.9/bin/python3", "");
    assert!(find_installations(&t).installations.is_empty());
}

#[test]
fn wants_content_names_the_version_files_only() {
    assert!(wants_content(
        "/opt/python/3.11.9/include/python3.11/patchlevel.h"
    ));
    assert!(wants_content("/usr/share/R/include/Rversion.h"));
    assert!(wants_content("/opt/quarto/share/version"));
    assert!(!wants_content("/etc/version"));
    assert!(!wants_content("/usr/bin/python3"));
}

#[test]
fn version_parsers_read_their_files() {
    assert_eq!(
        python_version("#define PY_VERSION \"3.13.0rc1\""),
        Some("3.13.0rc1".into())
    );
    assert_eq!(
        python_version("#define PY_VERSION \"3.12.4+\""),
        Some("3.12.4".into())
    );
    assert_eq!(python_version("#define PY_VERSION \"$(rm -rf)\""), None);
    assert_eq!(
        r_version("#define R_MAJOR \"4\"\n#define R_MINOR \"3.2\""),
        Some("4.3.2".into())
    );
    assert_eq!(r_version("#define R_MAJOR \"4\""), None);
    assert_eq!(quarto_version("1.5.57\n"), Some("1.5.57".into()));
    assert_eq!(quarto_version(""), None);
}

fn spec_with_python(version: &str, path: &str) -> EnvironmentSpec {
    let mut s = suggest_spec("img", &Findings::default());
    s.python.push(Installation {
        version: version.into(),
        path: path.into(),
    });
    s
}

#[test]
fn a_declared_version_the_image_does_not_have_is_drift() {
    let t = posit_python(base(), "3.11.9");
    let found = find_installations(&t);
    let findings = compare(
        &spec_with_python("3.12.4", "/opt/python/3.11.9/bin/python3"),
        &t,
        &found,
    );
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.kind, FindingKind::VersionMismatch);
    assert_eq!(
        f.message,
        "Python at /opt/python/3.11.9/bin/python3 is declared as 3.12.4 but the image has 3.11.9"
    );
    assert_eq!(state_of(&findings), CheckState::Drift);
}

#[test]
fn a_declared_path_the_image_does_not_have_is_missing_and_the_real_one_undeclared() {
    let t = posit_python(base(), "3.11.9");
    let found = find_installations(&t);
    let findings = compare(
        &spec_with_python("3.12.4", "/opt/python/3.12.4/bin/python3"),
        &t,
        &found,
    );
    let kinds: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::Missing, FindingKind::Undeclared]);
    assert_eq!(
        findings[0].message,
        "Python 3.12.4 is declared at /opt/python/3.12.4/bin/python3, which is not in the image"
    );
    assert_eq!(
        findings[1].message,
        "the image has Python 3.11.9 at /opt/python/3.11.9/bin/python3, which the definition does not declare"
    );
}

#[test]
fn a_matching_image_is_ok_also_through_a_symlinked_declared_path() {
    let t = posit_python(base(), "3.11.9").link("/opt/python/3.11", "3.11.9");
    let found = find_installations(&t);
    let findings = compare(
        &spec_with_python("3.11.9", "/opt/python/3.11/bin/python3"),
        &t,
        &found,
    );
    assert_eq!(findings, vec![]);
    assert_eq!(state_of(&findings), CheckState::Ok);
    let short = compare(
        &spec_with_python("3.11", "/opt/python/3.11.9/bin/python3"),
        &t,
        &found,
    );
    assert_eq!(
        short,
        vec![],
        "a declaration of major.minor matches its patch releases"
    );
}

#[test]
fn an_unverifiable_version_is_a_notice_not_drift() {
    let t = base()
        .dir("/opt/python/3.11.9")
        .dir("/opt/python/3.11.9/bin")
        .exe("/opt/python/3.11.9/bin/python3");
    let found = find_installations(&t);
    let findings = compare(
        &spec_with_python("3.11.9", "/opt/python/3.11.9/bin/python3"),
        &t,
        &found,
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::VersionUnknown);
    assert_eq!(state_of(&findings), CheckState::Ok);
}

#[test]
fn a_moved_tag_is_a_notice() {
    assert_eq!(tag_moved("r:1", "", "sha256:b"), None);
    assert_eq!(tag_moved("r:1", "sha256:a", "sha256:a"), None);
    let moved = tag_moved("r:1", "sha256:a", "sha256:b").expect("moved");
    assert_eq!(moved.kind, FindingKind::TagMoved);
    assert!(!moved.kind.is_drift());
    assert_eq!(
        moved.message,
        "r:1 now points at sha256:b; at the previous check it was sha256:a"
    );
}

#[test]
fn same_version_compares_the_declared_components() {
    assert!(same_version("3.11.2", "3.11.2"));
    assert!(same_version("3.11", "3.11.2"));
    assert!(!same_version("3.11.2", "3.11.20"));
    assert!(!same_version("3.11.2", "3.11"));
}

#[test]
fn suggestions_title_what_the_image_holds() {
    let t = posit_python(base(), "3.11.9");
    let spec = suggest_spec("ghcr.io/acme/python:3.11", &find_installations(&t));
    assert_eq!(spec.name, "ghcr.io/acme/python:3.11");
    assert_eq!(spec.title.as_deref(), Some("python:3.11 (Python 3.11.9)"));
    assert_eq!(
        spec.python,
        vec![Installation {
            version: "3.11.9".into(),
            path: "/opt/python/3.11.9/bin/python3".into()
        }]
    );
}

#[test]
fn spellings_round_trip() {
    for k in CheckState::ALL {
        assert_eq!(CheckState::parse(k.as_str()), Some(k));
    }
    for k in UnreadableKind::ALL {
        assert_eq!(UnreadableKind::parse(k.as_str()), Some(k));
    }
    for k in FindingKind::ALL {
        assert_eq!(FindingKind::parse(k.as_str()), Some(k));
    }
}
