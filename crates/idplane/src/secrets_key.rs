//! The key that seals provisioning secrets (a target's tenant URL and secret token) in the store. It lives outside
//! the database, in a file of its own: a copy of the database alone does not reveal the secrets. The file holds 64
//! hexadecimal digits (256 bits); `serve` creates it with mode 0600 when it does not exist. Every node of a
//! PostgreSQL deployment must be given the same file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The key file's name in the data directory, where it is unless `--secrets-key-file` says otherwise.
pub const FILE_NAME: &str = "secrets.key";

/// Where the key file is: the one given, else `secrets.key` in the data directory.
pub fn path(given: Option<&Path>, data_dir: &Path) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| data_dir.join(FILE_NAME))
}

/// Reads the key, or creates the file with a fresh random key (mode 0600) when it does not exist.
pub fn load_or_create(path: &Path) -> Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).with_context(|| format!("reading the secrets key {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(e).with_context(|| format!("reading the secrets key {}", path.display())),
    }
}

fn parse(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("the file must hold 64 hexadecimal digits")?;
    let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        bail!("the file must hold 64 hexadecimal digits (256 bits), not {}", text.trim().len());
    };
    Ok(key)
}

fn create(path: &Path) -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the secrets key: {e}"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Another node created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return load_or_create(path),
        Err(e) => return Err(e).with_context(|| format!("creating the secrets key {}", path.display())),
    };
    writeln!(file, "{}", hex::encode(key))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the secrets key {}", path.display()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_private_and_read_back() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("nested").join(FILE_NAME);
        let key = load_or_create(&p)?;
        assert_eq!(load_or_create(&p)?, key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p)?.permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&p, "not hex")?;
        assert!(load_or_create(&p).is_err());
        std::fs::write(&p, "abcd")?;
        assert!(load_or_create(&p).err().map(|e| format!("{e:#}")).unwrap_or_default().contains("64 hexadecimal"));
        Ok(())
    }
}
