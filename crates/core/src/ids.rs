//! Identifiers. Principal and workspace ids are positive int64 numbers, as in Databricks, rendered as strings in SCIM
//! and as JSON numbers in the non-SCIM APIs. Account ids are UUIDs.

use crate::error::StoreError;

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// A random 16-digit id (10^15 ≤ id < 10^16): fits int64 and JavaScript's exact integers, and looks like Databricks'.
pub fn new_numeric_id() -> Result<i64, StoreError> {
    const LOW: u64 = 1_000_000_000_000_000;
    const SPAN: u64 = 9_000_000_000_000_000;
    let r = u64::from_le_bytes(random_bytes::<8>()?);
    // The modulo bias is below 2^-10 of a digit: irrelevant for identifiers.
    Ok((LOW + r % SPAN) as i64)
}

/// A 16-digit id that grows with time: 10^15 + (milliseconds since 2024) × 4096 + 12 random bits. Principals created
/// together get neighbouring ids, so the store's tables and indexes keyed by id take new rows at their end (one page
/// written for many creations) rather than at random places; ids stay as opaque as random ones to clients, and 16
/// digits until 2093 (then the time part wraps around).
pub fn new_ordered_id(now: time::OffsetDateTime) -> Result<i64, StoreError> {
    const LOW: u64 = 1_000_000_000_000_000;
    const RANDOM_BITS: u32 = 12;
    const EPOCH_2024: i128 = 1_704_067_200_000;
    let span = 9_000_000_000_000_000u64 >> RANDOM_BITS;
    let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000 - EPOCH_2024).unwrap_or(0) % span;
    let r = u64::from(u16::from_le_bytes(random_bytes::<2>()?)) & ((1 << RANDOM_BITS) - 1);
    Ok((LOW + (millis << RANDOM_BITS) + r) as i64)
}

/// A random UUID (version 4) in its canonical lowercase form.
pub fn new_uuid() -> Result<String, StoreError> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// `n` random bytes, for secrets.
pub fn secret_bytes() -> Result<[u8; 32], StoreError> {
    random_bytes::<32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_have_sixteen_digits() -> Result<(), StoreError> {
        for _ in 0..1000 {
            let id = new_numeric_id()?;
            assert_eq!(id.to_string().len(), 16, "{id}");
        }
        Ok(())
    }

    #[test]
    fn ordered_ids_have_sixteen_digits_and_grow_with_time() -> Result<(), StoreError> {
        let t = time::macros::datetime!(2026-12-06 01:00 UTC);
        let (a, b) = (new_ordered_id(t)?, new_ordered_id(t + time::Duration::milliseconds(1))?);
        assert!(a < b, "{a} {b}");
        for when in [time::OffsetDateTime::UNIX_EPOCH, t, time::macros::datetime!(2093-06-01 00:00 UTC)] {
            assert_eq!(new_ordered_id(when)?.to_string().len(), 16, "{when}");
        }
        Ok(())
    }

    #[test]
    fn uuids_are_version_4() -> Result<(), StoreError> {
        let u = new_uuid()?;
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, new_uuid()?);
        Ok(())
    }
}
