//! `dir:PATH`: a camera made of image files (sandbox, tests, and a way for a
//! technician to replay frames saved at a counter).
//!
//! Every new PNG or JPEG file that appears in PATH is one frame, read in
//! name order. Files already there when the camera opens are skipped; files
//! are never deleted. A writer should write under a temporary name that
//! does not end in `.png`/`.jpg`/`.jpeg` and rename, but a file caught
//! half-written is retried until it decodes or is two seconds old.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{CameraError, FrameSource, GrayFrame, SourceInfo};

/// How often the directory is listed: the latency from a file appearing to
/// its frame (`cargo bench -p pos-agent --bench camera_latency`).
const POLL: Duration = Duration::from_millis(20);
/// How long `next_frame` waits for a new file before answering `None`.
const WAIT: Duration = Duration::from_millis(500);
/// A file that still does not decode after this long is skipped.
const SETTLE: Duration = Duration::from_secs(2);

/// The `dir:PATH` camera: each new PNG/JPEG file in the directory, in name
/// order, is one frame. Files are never deleted; one that does not decode
/// is retried until it settles, then skipped.
#[derive(Debug)]
pub struct DirSource {
    path: PathBuf,
    seen: HashSet<OsString>,
}

fn is_image(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_lowercase();
    !name.starts_with('.')
        && (name.ends_with(".png") || name.ends_with(".jpg") || name.ends_with(".jpeg"))
}

impl DirSource {
    /// Watch `path`; what is already in it is skipped.
    pub fn open(path: &Path) -> Result<DirSource, CameraError> {
        let mut src = DirSource {
            path: path.to_path_buf(),
            seen: HashSet::new(),
        };
        src.seen = src.list()?.into_iter().collect();
        Ok(src)
    }

    fn device(&self) -> String {
        format!("dir:{}", self.path.display())
    }

    /// All names in the directory.
    fn list(&self) -> Result<Vec<OsString>, CameraError> {
        let entries = std::fs::read_dir(&self.path).map_err(|e| CameraError::NotFound {
            device: self.device(),
            reason: e.to_string(),
        })?;
        Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect())
    }

    /// The first new image in name order that decodes, if any.
    fn poll(&mut self) -> Result<Option<GrayFrame>, CameraError> {
        let mut new: Vec<OsString> = self
            .list()?
            .into_iter()
            .filter(|n| !self.seen.contains(n) && is_image(n))
            .collect();
        new.sort();
        for name in new {
            let path = self.path.join(&name);
            match GrayFrame::load(&path) {
                Ok(frame) => {
                    self.seen.insert(name);
                    return Ok(Some(frame));
                }
                Err(e) => {
                    let young = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| SystemTime::now().duration_since(m).ok())
                        .is_some_and(|age| age < SETTLE);
                    if young {
                        // Probably still being written: keep the order and
                        // try again at the next poll.
                        return Ok(None);
                    }
                    tracing::warn!(file = %path.display(), error = %e, "camera: skipping an unreadable image");
                    self.seen.insert(name);
                }
            }
        }
        Ok(None)
    }
}

impl FrameSource for DirSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            device: self.device(),
            name: "directory".into(),
            format: "PNG/JPEG files".into(),
        }
    }

    fn next_frame(&mut self) -> Result<Option<GrayFrame>, CameraError> {
        let start = std::time::Instant::now();
        loop {
            if let Some(frame) = self.poll()? {
                return Ok(Some(frame));
            }
            if start.elapsed() >= WAIT {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG whose first pixel is `tag`, written atomically.
    fn write_png(dir: &Path, name: &str, tag: u8) {
        let f = GrayFrame::new(2, 2, vec![tag, 0, 0, 0]).expect("frame");
        let tmp = dir.join(format!("{name}.tmp"));
        f.save_png(&tmp).expect("save");
        std::fs::rename(tmp, dir.join(name)).expect("rename");
    }

    fn next_tag(src: &mut DirSource) -> Option<u8> {
        src.next_frame().expect("frame").map(|f| f.pixels()[0])
    }

    #[test]
    fn files_present_at_open_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_png(dir.path(), "old.png", 1);
        let mut src = DirSource::open(dir.path()).expect("open");
        assert_eq!(next_tag(&mut src), None);
        write_png(dir.path(), "new.png", 2);
        assert_eq!(next_tag(&mut src), Some(2));
        assert_eq!(next_tag(&mut src), None, "each file is one frame");
        assert!(dir.path().join("old.png").exists(), "never deleted");
        assert!(dir.path().join("new.png").exists(), "never deleted");
    }

    #[test]
    fn new_files_come_in_name_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut src = DirSource::open(dir.path()).expect("open");
        write_png(dir.path(), "frame-0003.png", 3);
        write_png(dir.path(), "frame-0001.png", 1);
        write_png(dir.path(), "frame-0002.png", 2);
        std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
        let tags: Vec<_> = (0..4).map(|_| next_tag(&mut src)).collect();
        assert_eq!(tags, vec![Some(1), Some(2), Some(3), None]);
    }

    #[test]
    fn an_old_unreadable_file_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut src = DirSource::open(dir.path()).expect("open");
        let bad = dir.path().join("a-bad.jpg");
        std::fs::write(&bad, b"not a jpeg").expect("write");
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&bad)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        write_png(dir.path(), "b-good.png", 7);
        assert_eq!(next_tag(&mut src), Some(7));
    }

    #[test]
    fn a_missing_directory_is_offline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("gone");
        let e = DirSource::open(&gone).expect_err("missing");
        assert_eq!(e.device_state(), crate::DeviceState::Offline);
        std::fs::create_dir(&gone).expect("mkdir");
        let mut src = DirSource::open(&gone).expect("open");
        std::fs::remove_dir(&gone).expect("rmdir");
        assert!(src.next_frame().is_err());
    }
}
