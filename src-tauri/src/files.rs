//! Turns what the user dropped or chose (files and folders) into the files to send, each with the
//! name it is sent under.

use std::path::{Path, PathBuf};

/// The most files one drop may add: a dropped home folder should not freeze the app.
pub const MAX_FILES_PER_DROP: usize = 10_000;

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToSend {
    /// Where it is.
    pub path: PathBuf,
    /// The name it is sent under: its file name, or for a file inside a dropped folder
    /// `folder/sub/file.ext`, so two files of the same name in different folders stay apart.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A dropped path that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path.
    pub path: PathBuf,
    /// Why, in plain words.
    pub reason: String,
}

/// Expands `paths`: files as they are, folders into their files (recursively, in name order,
/// hidden files and symbolic links skipped). Blocking: run it off async threads.
pub fn expand(paths: &[PathBuf]) -> (Vec<FileToSend>, Vec<Skipped>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(error) => {
                skipped.push(unreadable(path, &error));
                continue;
            }
        };
        // A symbolic link the user dropped on purpose is followed; those found inside folders
        // are not (they can loop).
        let metadata = if metadata.is_symlink() {
            match std::fs::metadata(path) {
                Ok(metadata) => metadata,
                Err(error) => {
                    skipped.push(unreadable(path, &error));
                    continue;
                }
            }
        } else {
            metadata
        };
        let Some(name) = file_name(path) else {
            skipped.push(Skipped {
                path: path.clone(),
                reason: "Its name is not valid Unicode.".to_owned(),
            });
            continue;
        };
        if metadata.is_dir() {
            walk(path, &name, &mut files, &mut skipped);
        } else if metadata.is_file() {
            files.push(FileToSend {
                path: path.clone(),
                name,
                size: metadata.len(),
            });
        } else {
            skipped.push(Skipped {
                path: path.clone(),
                reason: "It is not a regular file.".to_owned(),
            });
        }
        if files.len() >= MAX_FILES_PER_DROP {
            files.truncate(MAX_FILES_PER_DROP);
            skipped.push(Skipped {
                path: path.clone(),
                reason: format!("At most {MAX_FILES_PER_DROP} files can be added at once."),
            });
            break;
        }
    }
    (files, skipped)
}

fn unreadable(path: &Path, error: &std::io::Error) -> Skipped {
    Skipped {
        path: path.to_path_buf(),
        reason: format!("It could not be read: {error}."),
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_owned)
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<FileToSend>, skipped: &mut Vec<Skipped>) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(error) => {
            skipped.push(Skipped {
                path: dir.to_path_buf(),
                reason: format!("The folder could not be read: {error}."),
            });
            return;
        }
    };
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        if files.len() >= MAX_FILES_PER_DROP {
            return;
        }
        let path = entry.path();
        let Some(name) = file_name(&path) else {
            skipped.push(Skipped {
                path,
                reason: "Its name is not valid Unicode.".to_owned(),
            });
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = format!("{prefix}/{name}");
        if kind.is_dir() {
            walk(&path, &name, files, skipped);
        } else if kind.is_file() {
            match entry.metadata() {
                Ok(metadata) => files.push(FileToSend {
                    path,
                    name,
                    size: metadata.len(),
                }),
                Err(error) => skipped.push(unreadable(&path, &error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_recursively_with_their_relative_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("scans");
        std::fs::create_dir_all(root.join("day 2/deep")).expect("dirs");
        std::fs::write(root.join("a.txt"), b"a").expect("write");
        std::fs::write(root.join("day 2/a.txt"), b"bb").expect("write");
        std::fs::write(root.join("day 2/deep/스캔.pdf"), b"ccc").expect("write");
        std::fs::write(root.join(".DS_Store"), b"hidden").expect("write");
        let single = dir.path().join("single.bin");
        std::fs::write(&single, b"1234").expect("write");

        let (files, skipped) = expand(&[root.clone(), single.clone()]);
        let names: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.size)).collect();
        assert_eq!(
            names,
            [
                ("scans/a.txt", 1),
                ("scans/day 2/a.txt", 2),
                ("scans/day 2/deep/스캔.pdf", 3),
                ("single.bin", 4)
            ]
        );
        assert_eq!(files[2].path, root.join("day 2/deep/스캔.pdf"));
        assert!(skipped.is_empty());
    }

    #[test]
    fn missing_paths_are_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let present = dir.path().join("present.txt");
        std::fs::write(&present, b"x").expect("write");
        let missing = dir.path().join("missing.txt");
        let (files, skipped) = expand(&[missing.clone(), present]);
        assert_eq!(files.len(), 1);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].path, missing);
        assert!(skipped[0].reason.starts_with("It could not be read"));
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_folders_are_not_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("loop");
        std::fs::create_dir(&root).expect("dir");
        std::fs::write(root.join("real.txt"), b"x").expect("write");
        std::os::unix::fs::symlink(&root, root.join("again")).expect("link");
        let (files, _) = expand(std::slice::from_ref(&root));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "loop/real.txt");
    }
}
