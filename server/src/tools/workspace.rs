//! Confinement of the file tools to the workspace (spec §7.6). A path must be relative, without a
//! `..` component or NUL, and its real location (symbolic links resolved) must stay under the
//! workspace root. The check runs at prepare and again just before a file is opened, and files
//! are opened with `O_NOFOLLOW`, so a link swapped in after the check is refused, not followed.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A normalised workspace-relative path: no empty, `.` or `..` components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativePath {
    components: Vec<String>,
}

impl RelativePath {
    /// Normalises a tool's `path` argument; the error says why it is outside the workspace.
    pub fn parse(path: &str) -> Result<RelativePath, String> {
        if path.contains('\0') {
            return Err(format!("path {path:?} contains a NUL character"));
        }
        if path.starts_with('/') {
            return Err(format!(
                "path '{path}' is absolute; give a path relative to the workspace"
            ));
        }
        let mut components = Vec::new();
        for component in path.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(format!("path '{path}' has a '..' component")),
                name => components.push(name.to_owned()),
            }
        }
        Ok(RelativePath { components })
    }

    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// `a/b/c`, or `.` for the workspace root: the form shown in outputs and metadata.
    pub fn display(&self) -> String {
        if self.is_root() {
            ".".to_owned()
        } else {
            self.components.join("/")
        }
    }
}

/// A symbolic link on the way leads outside the workspace (or cannot be resolved at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escape(pub String);

/// The workspace root, canonical so that real paths can be compared with it.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Creates the root when missing.
    pub fn open(root: &Path) -> io::Result<Workspace> {
        fs::create_dir_all(root)?;
        Ok(Workspace {
            root: fs::canonicalize(root)?,
        })
    }

    /// The real path `relative` names: each existing component is looked at without following
    /// it, and a symbolic link is resolved and must land inside the root. Components that do not
    /// exist yet (a file about to be written) are appended as they are. A link that cannot be
    /// resolved (dangling, or a loop) is an escape: what it would create is unknowable here.
    pub fn resolve(&self, relative: &RelativePath) -> Result<PathBuf, Escape> {
        let mut real = self.root.clone();
        let mut components = relative.components.iter();
        for component in components.by_ref() {
            let candidate = real.join(component);
            let Ok(meta) = fs::symlink_metadata(&candidate) else {
                // Missing, or a parent that is not a directory: opening will report it.
                real = candidate;
                break;
            };
            real = if meta.file_type().is_symlink() {
                let target = fs::canonicalize(&candidate).map_err(|_| self.escape(relative))?;
                if !target.starts_with(&self.root) {
                    return Err(self.escape(relative));
                }
                target
            } else {
                candidate
            };
        }
        real.extend(components);
        Ok(real)
    }

    fn escape(&self, relative: &RelativePath) -> Escape {
        Escape(format!(
            "path '{}' goes through a symbolic link that leads outside the workspace",
            relative.display()
        ))
    }
}

/// Opens an already resolved path without following a symbolic link in its last component.
pub fn open_no_follow(real: &Path, options: &mut OpenOptions) -> io::Result<File> {
    options.custom_flags(libc::O_NOFOLLOW).open(real)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn parse_error(path: &str) -> String {
        RelativePath::parse(path).unwrap_err()
    }

    #[test]
    fn normalises_relative_paths() {
        assert_eq!(
            RelativePath::parse("./reports//q3.txt/").unwrap().display(),
            "reports/q3.txt"
        );
        assert_eq!(RelativePath::parse(".").unwrap().display(), ".");
        assert!(RelativePath::parse("").unwrap().is_root());
        assert_eq!(RelativePath::parse("a\\..\\b").unwrap().display(), "a\\..\\b");
    }

    #[test]
    fn refuses_traversal_absolute_and_nul() {
        assert_eq!(parse_error("../x"), "path '../x' has a '..' component");
        assert_eq!(parse_error("a/../../x"), "path 'a/../../x' has a '..' component");
        assert_eq!(parse_error("a/../b"), "path 'a/../b' has a '..' component");
        assert_eq!(
            parse_error("/etc/passwd"),
            "path '/etc/passwd' is absolute; give a path relative to the workspace"
        );
        assert_eq!(parse_error("a\0b"), "path \"a\\0b\" contains a NUL character");
    }

    #[test]
    fn resolves_links_that_stay_inside_and_refuses_those_that_leave() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::open(&dir.path().join("ws")).unwrap();
        let root = workspace.root.clone();
        fs::create_dir(root.join("real")).unwrap();
        symlink(root.join("real"), root.join("alias")).unwrap();
        symlink(outside.path(), root.join("out")).unwrap();
        symlink(root.join("missing"), root.join("dangling")).unwrap();

        let resolve = |path: &str| workspace.resolve(&RelativePath::parse(path).unwrap());
        assert_eq!(resolve("alias/new/x.txt").unwrap(), root.join("real/new/x.txt"));
        assert_eq!(resolve("fresh/x.txt").unwrap(), root.join("fresh/x.txt"));
        assert_eq!(resolve(".").unwrap(), root);
        assert_eq!(
            resolve("out/x.txt").unwrap_err(),
            Escape("path 'out/x.txt' goes through a symbolic link that leads outside the workspace".into())
        );
        assert!(resolve("out").is_err());
        assert!(resolve("dangling").is_err());
    }
}
