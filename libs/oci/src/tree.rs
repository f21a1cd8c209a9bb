//! The merged file tree of an image: each layer's tar applied over the ones below it, the way
//! overlay filesystems merge them — metadata only, plus the contents of version files.
//!
//! Whiteouts follow the OCI image spec: in a layer, `dir/.wh.name` removes `dir/name` (and all
//! under it) as the LOWER layers left it, and `dir/.wh..wh..opq` removes everything the lower
//! layers had under `dir`; what the same layer adds is kept, whatever the order of its entries.
//! To tell them apart every node remembers the layer that last wrote it.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use execenv_core::examine::{
    Content, FileKind, ImageFiles, MAX_CAPTURED_FILE_BYTES, wants_content,
};

/// How many symlinks one lookup follows before it gives up (as Linux's `MAXSYMLINKS`).
const MAX_LINKS_FOLLOWED: usize = 40;

/// Deeper paths are refused: no real image has them, and the tree is walked recursively.
const MAX_PATH_DEPTH: usize = 1024;

const OPAQUE_MARKER: &str = ".wh..wh..opq";
const WHITEOUT_PREFIX: &str = ".wh.";
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// The merged tree: implements `execenv_core::examine::ImageFiles` (kind, list, resolve,
/// content) with symlinks resolved INSIDE the tree (absolute targets relative to the image root,
/// `..` stops at the root, at most 40 links followed, loops → None). Hard links (tar type 1)
/// refer to an earlier path of the tree (copy its metadata and captured content).
///
/// Devices and FIFOs appear as empty regular files (the examination has no use for them).
#[derive(Debug, Clone)]
pub struct ImageTree {
    root: Node,
    /// How many layers were applied: the number of the layer being applied.
    layers: u32,
}

#[derive(Debug, Clone)]
struct Node {
    /// The layer that last wrote this node (0: the root, which no layer creates).
    layer: u32,
    kind: NodeKind,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Dir {
        children: BTreeMap<Box<str>, Node>,
    },
    File {
        mode: u32,
        size: u64,
        content: Option<Arc<[u8]>>,
    },
    Symlink {
        target: Box<str>,
    },
    /// A device or FIFO.
    Special {
        mode: u32,
    },
}

impl Default for ImageTree {
    fn default() -> Self {
        ImageTree::new()
    }
}

impl ImageTree {
    /// An empty tree: only the root folder.
    pub fn new() -> ImageTree {
        ImageTree {
            root: Node::dir(0),
            layers: 0,
        }
    }

    /// How many files, folders, symlinks and special files the tree holds (the root not counted).
    pub fn entries(&self) -> usize {
        fn count(node: &Node) -> usize {
            match &node.kind {
                NodeKind::Dir { children } => {
                    children.len() + children.values().map(count).sum::<usize>()
                }
                _ => 0,
            }
        }
        count(&self.root)
    }

    /// Roughly how much memory the tree takes: its nodes, names, link targets and captured
    /// contents (for the bench and logs).
    pub fn approximate_bytes(&self) -> usize {
        // A B-tree entry costs its key and value plus a share of the node's bookkeeping.
        const ENTRY_OVERHEAD: usize = 16;
        fn bytes(node: &Node) -> usize {
            match &node.kind {
                NodeKind::Dir { children } => children
                    .iter()
                    .map(|(name, child)| {
                        std::mem::size_of::<(Box<str>, Node)>()
                            + ENTRY_OVERHEAD
                            + name.len()
                            + bytes(child)
                    })
                    .sum(),
                NodeKind::File { content, .. } => content.as_ref().map_or(0, |c| c.len()),
                NodeKind::Symlink { target } => target.len(),
                NodeKind::Special { .. } => 0,
            }
        }
        std::mem::size_of::<ImageTree>() + bytes(&self.root)
    }

    /// Applies one uncompressed tar layer (what read_tree does per layer; public so tests and
    /// the bench can build trees without a registry). The tar is read once, front to back;
    /// only the contents of files [`wants_content`] names are kept. The message of an error
    /// says what is wrong with the tar.
    pub fn apply_layer<R: Read>(&mut self, tar: R) -> Result<(), String> {
        self.layers += 1;
        let layer = self.layers;
        let mut archive = tar::Archive::new(tar);
        let entries = archive
            .entries()
            .map_err(|e| format!("the layer is not a tar archive: {e}"))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("the layer is not a valid tar archive: {e}"))?;
            self.apply_entry(entry, layer)?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        layer: u32,
    ) -> Result<(), String> {
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let parts = entry_components(&raw);
        if parts.len() > MAX_PATH_DEPTH {
            return Err(format!(
                "the layer has a path {} folders deep, more than the {MAX_PATH_DEPTH} an image can have",
                parts.len()
            ));
        }
        let Some((name, parent)) = parts.split_last() else {
            // The root folder itself (`./`): nothing to record.
            return Ok(());
        };
        if *name == OPAQUE_MARKER {
            self.make_opaque(parent, layer);
            return Ok(());
        }
        // aufs's own bookkeeping (`.wh..wh.plnk/`, `.wh..wh.aufs`) is no file of the image.
        if name.starts_with(AUFS_META_PREFIX)
            || parent.iter().any(|p| p.starts_with(AUFS_META_PREFIX))
        {
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            self.white_out(parent, hidden, layer);
            return Ok(());
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644);
        let kind = match header.entry_type() {
            tar::EntryType::Directory => NodeKind::Dir {
                children: BTreeMap::new(),
            },
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let size = entry.size();
                let path = format!("/{}", parts.join("/"));
                let content = if wants_content(&path) && size <= MAX_CAPTURED_FILE_BYTES {
                    let mut bytes = Vec::new();
                    (&mut entry)
                        .take(MAX_CAPTURED_FILE_BYTES)
                        .read_to_end(&mut bytes)
                        .map_err(|e| format!("the layer's {path} cannot be read: {e}"))?;
                    Some(Arc::from(bytes))
                } else {
                    None
                };
                NodeKind::File {
                    mode,
                    size,
                    content,
                }
            }
            tar::EntryType::Symlink => NodeKind::Symlink {
                target: link_name(&entry).into(),
            },
            tar::EntryType::Link => {
                let target = link_name(&entry);
                let target_parts = entry_components(&target);
                match self.walk(&target_parts, false).map(|(_, node)| &node.kind) {
                    Some(NodeKind::Dir { .. }) => {
                        return Err(format!(
                            "the layer's hard link /{} refers to the folder /{}; hard links to folders are not allowed",
                            parts.join("/"),
                            target_parts.join("/")
                        ));
                    }
                    Some(kind) => kind.clone(),
                    None => {
                        return Err(format!(
                            "the layer's hard link /{} refers to /{}, which no layer up to it has",
                            parts.join("/"),
                            target_parts.join("/")
                        ));
                    }
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                NodeKind::Special { mode }
            }
            // PAX global headers and the like describe no file.
            _ => return Ok(()),
        };
        self.put(parent, name, Node { layer, kind });
        Ok(())
    }

    /// Writes `node` at `parent/name`, creating missing folders (and replacing files or links
    /// in the way of a folder). A folder written over a folder keeps what is under it.
    fn put(&mut self, parent: &[&str], name: &str, mut node: Node) {
        let layer = node.layer;
        let children = dir_children(&mut self.root, parent, layer);
        if let (NodeKind::Dir { children: new }, Some(old)) =
            (&mut node.kind, children.get_mut(name))
            && let NodeKind::Dir { children: kept } = &mut old.kind
        {
            *new = std::mem::take(kept);
        }
        children.insert(name.into(), node);
    }

    /// `parent/.wh.name`: removes what the lower layers left at `parent/name`.
    fn white_out(&mut self, parent: &[&str], name: &str, layer: u32) {
        let Some(children) = existing_dir_children(&mut self.root, parent) else {
            return;
        };
        if let Some(node) = children.get_mut(name)
            && !keep_this_layer_only(node, layer)
        {
            children.remove(name);
        }
    }

    /// `parent/.wh..wh..opq`: removes everything the lower layers had under `parent`.
    fn make_opaque(&mut self, dir: &[&str], layer: u32) {
        let children = dir_children(&mut self.root, dir, layer);
        children.retain(|_, child| keep_this_layer_only(child, layer));
    }

    /// Walks `parts` from the root, following symlinks in the middle of the path (and at its
    /// end when `follow_last`); the components walked (symlinks resolved) and the node reached.
    fn walk<'a>(&'a self, parts: &[&str], follow_last: bool) -> Option<(Vec<&'a str>, &'a Node)> {
        let mut pending: Vec<String> = parts.iter().rev().map(|p| p.to_string()).collect();
        let mut names: Vec<&'a str> = Vec::new();
        let mut nodes: Vec<&'a Node> = vec![&self.root];
        let mut followed = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if nodes.len() > 1 {
                        nodes.pop();
                        names.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let NodeKind::Dir { children } = &nodes.last()?.kind else {
                return None;
            };
            let (name, child) = children.get_key_value(part.as_str())?;
            if let NodeKind::Symlink { target } = &child.kind
                && (follow_last || !pending.is_empty())
            {
                followed += 1;
                if followed > MAX_LINKS_FOLLOWED {
                    return None;
                }
                if target.starts_with('/') {
                    nodes.truncate(1);
                    names.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
                continue;
            }
            names.push(name.as_ref());
            nodes.push(child);
        }
        Some((names, nodes.pop()?))
    }

    fn lookup(&self, path: &str) -> Option<&Node> {
        self.walk(&components(path), true).map(|(_, node)| node)
    }
}

impl ImageFiles for ImageTree {
    fn kind(&self, path: &str) -> Option<FileKind> {
        Some(match &self.lookup(path)?.kind {
            NodeKind::Dir { .. } => FileKind::Dir,
            NodeKind::File { mode, size, .. } => FileKind::File {
                executable: mode & 0o111 != 0,
                size: *size,
            },
            NodeKind::Special { mode } => FileKind::File {
                executable: mode & 0o111 != 0,
                size: 0,
            },
            NodeKind::Symlink { .. } => return None,
        })
    }

    fn list(&self, path: &str) -> Option<Vec<String>> {
        match &self.lookup(path)?.kind {
            NodeKind::Dir { children } => Some(children.keys().map(|k| k.to_string()).collect()),
            _ => None,
        }
    }

    fn resolve(&self, path: &str) -> Option<String> {
        let (names, _) = self.walk(&components(path), true)?;
        Some(format!("/{}", names.join("/")))
    }

    fn content(&self, path: &str) -> Content<'_> {
        match self.lookup(path).map(|n| &n.kind) {
            None | Some(NodeKind::Symlink { .. }) => Content::Missing,
            Some(NodeKind::File {
                content: Some(bytes),
                ..
            }) => Content::Bytes(bytes),
            Some(_) => Content::NotCaptured,
        }
    }
}

impl Node {
    fn dir(layer: u32) -> Node {
        Node {
            layer,
            kind: NodeKind::Dir {
                children: BTreeMap::new(),
            },
        }
    }
}

/// The children of the folder at `parts`, creating the folders on the way (for `layer`) and
/// replacing what is not a folder — an upper layer's folder hides a lower layer's file or link.
fn dir_children<'a>(
    root: &'a mut Node,
    parts: &[&str],
    layer: u32,
) -> &'a mut BTreeMap<Box<str>, Node> {
    let mut node = root;
    for part in parts {
        let children = as_dir(node, layer);
        node = children
            .entry((*part).into())
            .or_insert_with(|| Node::dir(layer));
    }
    as_dir(node, layer)
}

/// The children of `node`, turning it into an empty folder first when it is not one.
fn as_dir(node: &mut Node, layer: u32) -> &mut BTreeMap<Box<str>, Node> {
    if !matches!(node.kind, NodeKind::Dir { .. }) {
        *node = Node::dir(layer);
    }
    match &mut node.kind {
        NodeKind::Dir { children } => children,
        // Made a folder just above.
        _ => unreachable!("a folder"),
    }
}

/// The children of the folder at `parts` when every component is a folder (no symlinks
/// followed: whiteouts name paths as the layers store them).
fn existing_dir_children<'a>(
    root: &'a mut Node,
    parts: &[&str],
) -> Option<&'a mut BTreeMap<Box<str>, Node>> {
    let mut node = root;
    for part in parts {
        let NodeKind::Dir { children } = &mut node.kind else {
            return None;
        };
        node = children.get_mut(*part)?;
    }
    match &mut node.kind {
        NodeKind::Dir { children } => Some(children),
        _ => None,
    }
}

/// Removes from `node` everything older than `layer`; whether anything of it is left (it was
/// written by `layer`, or is a folder holding something `layer` wrote).
fn keep_this_layer_only(node: &mut Node, layer: u32) -> bool {
    match &mut node.kind {
        NodeKind::Dir { children } => {
            children.retain(|_, child| keep_this_layer_only(child, layer));
            node.layer == layer || !children.is_empty()
        }
        _ => node.layer == layer,
    }
}

/// The components of a path as a caller writes it (`/opt//python/`): empty and `.` components
/// dropped, `..` kept for the walk to apply after the symlinks before it.
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect()
}

/// The components of a tar entry's path (`./opt/python/`), with `..` applied as written and
/// stopping at the root: an entry never lands outside the tree.
fn entry_components(path: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests;
