//! Identifiers of the provisioning domain. Directory objects, applications and service principals have GUIDs, as in
//! Entra ID; idplane makes them time-ordered (UUID version 7: 48 bits of milliseconds, then random bits), so that
//! objects created together share the store's index pages, while staying as opaque to clients as random ones.

use idplane_core::error::StoreError;
use time::OffsetDateTime;

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
    Ok(buf)
}

fn format_uuid(b: [u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A new time-ordered GUID (UUID version 7) for an object created at `now`, in canonical lowercase form.
pub fn new_guid(now: OffsetDateTime) -> Result<String, StoreError> {
    let mut b = random_bytes::<16>()?;
    let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(format_uuid(b))
}

/// A random GUID (UUID version 4): tenant ids, and the probe of Test Connection.
pub fn random_guid() -> Result<String, StoreError> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(format_uuid(b))
}

/// An opaque id for an app role assignment: 32 random bytes in unpadded base64url (43 characters), the shape Graph's
/// assignment ids have.
pub fn new_assignment_id() -> Result<String, StoreError> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// True when `s` is a GUID in the canonical 8-4-4-4-12 hexadecimal form (either case).
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_canonical_and_version_7_ones_grow_with_time() -> Result<(), StoreError> {
        let t = time::macros::datetime!(2026-12-06 01:00 UTC);
        let (a, b) = (new_guid(t)?, new_guid(t + time::Duration::milliseconds(1))?);
        assert!(is_guid(&a) && is_guid(&b), "{a} {b}");
        assert!(a < b, "{a} {b}");
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        let r = random_guid()?;
        assert!(is_guid(&r) && &r[14..15] == "4", "{r}");
        assert!(!is_guid("not-a-guid") && !is_guid(&format!("{}x", &r[..35])));
        assert_eq!(new_assignment_id()?.len(), 43);
        Ok(())
    }
}
