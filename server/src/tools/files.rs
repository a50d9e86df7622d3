//! `file_read`, `file_write` and `file_list` (spec §7.6). Each re-resolves its path just before
//! touching the disk (the workspace may have changed since prepare) and reports every failure as
//! a tool error. They block, so the caller runs them on the blocking pool.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};

use serde_json::json;

use super::arguments::MAX_FILE_BYTES;
use super::workspace::{open_no_follow, RelativePath, Workspace};
use super::ToolOutput;

/// `file_list` shows at most this many entries.
pub const MAX_LIST_ENTRIES: usize = 1000;

/// The file as UTF-8 text; larger than 1 MiB or not UTF-8 is a tool error.
pub fn read(workspace: &Workspace, relative: &RelativePath) -> ToolOutput {
    let shown = relative.display();
    let real = match workspace.resolve(relative) {
        Ok(real) => real,
        Err(escape) => return ToolOutput::error(format!("Error: {}", escape.0)),
    };
    let file = match open_no_follow(&real, OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(err) => return ToolOutput::error(format!("Error: cannot open '{shown}': {err}")),
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return ToolOutput::error(format!("Error: '{shown}' is not a file; use file_list for directories")),
        Err(err) => return ToolOutput::error(format!("Error: cannot read '{shown}': {err}")),
    }
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly 1 MiB" from "larger".
    if let Err(err) = file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes) {
        return ToolOutput::error(format!("Error: cannot read '{shown}': {err}"));
    }
    if bytes.len() > MAX_FILE_BYTES {
        return ToolOutput::error(format!(
            "Error: '{shown}' is larger than 1 MiB ({MAX_FILE_BYTES} bytes); file_read returns at most 1 MiB"
        ));
    }
    let size = bytes.len();
    match String::from_utf8(bytes) {
        Ok(text) => ToolOutput::success(text, json!({"path": shown, "bytes": size})),
        Err(_) => ToolOutput::error(format!("Error: '{shown}' is not UTF-8 text")),
    }
}

/// Writes (or appends) `content`, creating parent directories.
pub fn write(workspace: &Workspace, relative: &RelativePath, content: &str, append: bool) -> ToolOutput {
    let shown = relative.display();
    let real = match workspace.resolve(relative) {
        Ok(real) => real,
        Err(escape) => return ToolOutput::error(format!("Error: {}", escape.0)),
    };
    if let Some(parent) = real.parent() {
        if let Err(err) = fs::create_dir_all(parent) {
            return ToolOutput::error(format!("Error: cannot create the directories of '{shown}': {err}"));
        }
    }
    // The directories just created must not have been replaced by a link in the meantime.
    let real = match workspace.resolve(relative) {
        Ok(again) if again == real => real,
        _ => {
            return ToolOutput::error(format!(
                "Error: '{shown}' changed while it was being written; try again"
            ))
        }
    };
    let mut options = OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    let written = open_no_follow(&real, &mut options).and_then(|mut file| file.write_all(content.as_bytes()));
    match written {
        Ok(()) => ToolOutput::success(
            format!("Wrote {} bytes to {shown}", content.len()),
            json!({"path": shown, "bytes": content.len()}),
        ),
        Err(err) => ToolOutput::error(format!("Error: cannot write '{shown}': {err}")),
    }
}

/// The entries of one directory, sorted by name, one per line, directories with a trailing `/`.
pub fn list(workspace: &Workspace, relative: &RelativePath) -> ToolOutput {
    let shown = relative.display();
    let real = match workspace.resolve(relative) {
        Ok(real) => real,
        Err(escape) => return ToolOutput::error(format!("Error: {}", escape.0)),
    };
    let entries = match fs::read_dir(&real) {
        Ok(entries) => entries,
        Err(err) => return ToolOutput::error(format!("Error: cannot list '{shown}': {err}")),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => return ToolOutput::error(format!("Error: cannot list '{shown}': {err}")),
        };
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    names.truncate(MAX_LIST_ENTRIES);
    let text = names.join("\n");
    let size = text.len();
    ToolOutput::success(text, json!({"path": shown, "bytes": size}))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn setup() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::open(&dir.path().join("ws")).unwrap();
        (dir, workspace)
    }

    fn rel(path: &str) -> RelativePath {
        RelativePath::parse(path).unwrap()
    }

    #[test]
    fn write_then_read_then_append() {
        let (_dir, ws) = setup();
        let wrote = write(&ws, &rel("reports/q3/summary.txt"), "héllo", false);
        assert!(!wrote.is_error, "{}", wrote.text);
        assert_eq!(wrote.text, "Wrote 6 bytes to reports/q3/summary.txt");
        assert_eq!(
            wrote.metadata,
            Some(json!({"path": "reports/q3/summary.txt", "bytes": 6}))
        );
        assert_eq!(
            write(&ws, &rel("reports/q3/summary.txt"), "!", true).text,
            "Wrote 1 bytes to reports/q3/summary.txt"
        );
        let read_back = read(&ws, &rel("./reports/q3/summary.txt"));
        assert!(!read_back.is_error);
        assert_eq!(read_back.text, "héllo!");
        assert_eq!(
            read_back.metadata,
            Some(json!({"path": "reports/q3/summary.txt", "bytes": 7}))
        );
        write(&ws, &rel("reports/q3/summary.txt"), "new", false);
        assert_eq!(read(&ws, &rel("reports/q3/summary.txt")).text, "new");
    }

    #[test]
    fn read_limits_and_encoding_are_tool_errors() {
        let (_dir, ws) = setup();
        fs::write(ws.resolve(&rel("max.txt")).unwrap(), "a".repeat(MAX_FILE_BYTES)).unwrap();
        fs::write(ws.resolve(&rel("big.txt")).unwrap(), "a".repeat(MAX_FILE_BYTES + 1)).unwrap();
        fs::write(ws.resolve(&rel("latin1.txt")).unwrap(), b"caf\xe9").unwrap();
        fs::create_dir(ws.resolve(&rel("dir")).unwrap()).unwrap();

        let max = read(&ws, &rel("max.txt"));
        assert!(!max.is_error);
        assert_eq!(max.text.len(), MAX_FILE_BYTES);
        let big = read(&ws, &rel("big.txt"));
        assert!(big.is_error);
        assert!(
            big.text.starts_with("Error: 'big.txt' is larger than 1 MiB"),
            "{}",
            big.text
        );
        let latin1 = read(&ws, &rel("latin1.txt"));
        assert_eq!(
            (latin1.is_error, latin1.text.as_str()),
            (true, "Error: 'latin1.txt' is not UTF-8 text")
        );
        assert!(read(&ws, &rel("dir")).text.contains("is not a file"));
        let missing = read(&ws, &rel("nope.txt"));
        assert!(missing.is_error && missing.text.starts_with("Error: cannot open 'nope.txt'"));
    }

    #[test]
    fn list_is_sorted_with_directory_slashes() {
        let (_dir, ws) = setup();
        for file in ["b.txt", "C.txt", "sub/inner.txt"] {
            write(&ws, &rel(file), "x", false);
        }
        fs::create_dir(ws.resolve(&rel("a")).unwrap()).unwrap();
        let root = list(&ws, &rel("."));
        assert!(!root.is_error);
        assert_eq!(root.text, "C.txt\na/\nb.txt\nsub/");
        assert_eq!(root.metadata, Some(json!({"path": ".", "bytes": root.text.len()})));
        assert_eq!(list(&ws, &rel("sub")).text, "inner.txt");
        assert!(list(&ws, &rel("b.txt")).is_error);
        assert!(list(&ws, &rel("none")).is_error);
    }

    #[test]
    fn list_stops_at_the_entry_limit() {
        let (_dir, ws) = setup();
        let dir = ws.resolve(&rel("many")).unwrap();
        fs::create_dir(&dir).unwrap();
        for n in 0..=MAX_LIST_ENTRIES {
            fs::write(dir.join(format!("f{n:04}")), "").unwrap();
        }
        let listed = list(&ws, &rel("many"));
        let lines: Vec<&str> = listed.text.lines().collect();
        assert_eq!(lines.len(), MAX_LIST_ENTRIES);
        assert_eq!((lines[0], lines[999]), ("f0000", "f0999"));
    }

    /// A link that appears after prepare is caught when the tool runs.
    #[test]
    fn links_swapped_in_after_prepare_are_refused_at_run_time() {
        let (_dir, ws) = setup();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        symlink(outside.path(), ws.resolve(&rel("docs")).unwrap()).unwrap();
        symlink(outside.path().join("secret.txt"), ws.resolve(&rel("note.txt")).unwrap()).unwrap();

        for output in [
            read(&ws, &rel("docs/secret.txt")),
            read(&ws, &rel("note.txt")),
            list(&ws, &rel("docs")),
            write(&ws, &rel("docs/new.txt"), "x", false),
            write(&ws, &rel("note.txt"), "overwritten", false),
        ] {
            assert!(output.is_error);
            assert!(output.text.contains("leads outside the workspace"), "{}", output.text);
        }
        assert_eq!(fs::read_to_string(outside.path().join("secret.txt")).unwrap(), "secret");
        assert!(!outside.path().join("new.txt").exists());
    }

    #[test]
    fn the_last_component_is_opened_without_following_links() {
        let (_dir, ws) = setup();
        fs::write(ws.resolve(&rel("target.txt")).unwrap(), "x").unwrap();
        let link = ws.resolve(&rel("link.txt")).unwrap();
        symlink("target.txt", &link).unwrap();
        let opened = open_no_follow(&link, OpenOptions::new().read(true));
        assert_eq!(opened.unwrap_err().raw_os_error(), Some(libc::ELOOP));
        // Through `read`, the inside link is resolved first and then opened directly.
        assert_eq!(read(&ws, &rel("link.txt")).text, "x");
    }
}
