//! Private files and directories: certdeck's data dir, logs, database, key file and session
//! file are created with their final mode (0700 directories, 0600 files) whatever the umask,
//! and rewritten atomically through a fresh temporary file (`O_EXCL`, mode 0600 at creation,
//! random name), so no other local user can read them or plant a file in their place.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) with mode 0700, and narrows an existing `dir` to 0700
/// when group or others have any access.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    narrow(dir, 0o700)
}

/// Creates the empty file `path` with mode 0600 when it does not exist, and narrows an existing
/// one to 0600 when group or others have any access.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => narrow(path, 0o600),
        Err(e) => Err(e),
    }
}

/// Narrows `path` to `mode` when it grants group or others anything (never widens).
#[cfg(unix)]
fn narrow(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// A fresh temporary name next to `path`: `.<name>.<random>.tmp`.
fn temp_name(path: &Path) -> PathBuf {
    let mut r = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", crate::domain::certpem::hex(&r)))
}

/// Writes `bytes` to `path` atomically with mode 0600: a new temporary file in the same
/// directory (`O_EXCL`, mode 0600 from its creation), synced, then renamed over `path`. The
/// temporary file is removed when anything fails.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_name(path);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let result = (|| {
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn modes_are_private_and_existing_ones_are_narrowed() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&d.path().join("a")), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        let f = dir.join("db");
        private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);

        let k = dir.join("key");
        write_private(&k, b"one").unwrap();
        write_private(&k, b"two").unwrap();
        assert_eq!(std::fs::read(&k).unwrap(), b"two");
        assert_eq!(mode(&k), 0o600);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
