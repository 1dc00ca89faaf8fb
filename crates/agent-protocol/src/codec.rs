//! Frames to WebSocket message payloads and back (the layout is in the crate docs), with the size limits.

use serde::Deserialize;

use crate::error::Error;
use crate::frame::Frame;

/// The largest JSON header accepted. Headers hold a request line and HTTP header fields, or a list of tenant URLs:
/// far below this.
pub const MAX_HEADER_BYTES: usize = 256 << 10;

/// What a message decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Frame(Frame),
    /// A frame type this version does not know, from a newer peer: to be ignored.
    Unknown {
        frame_type: String,
    },
}

/// Encodes a frame as one binary WebSocket message. Only the body of a request or response follows the header.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, Error> {
    let body: &[u8] = match frame {
        Frame::Request(r) => &r.body,
        Frame::Response(r) => &r.body,
        _ => &[],
    };
    // The header of a request is a few hundred bytes: reserving that much spares the vector's regrowth.
    let mut out = Vec::with_capacity(4 + 512 + body.len());
    out.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut out, frame).map_err(|e| Error::Header(e.to_string()))?;
    let header_len = out.len() - 4;
    if header_len > MAX_HEADER_BYTES {
        return Err(Error::HeaderTooLarge { size: header_len, limit: MAX_HEADER_BYTES });
    }
    // Fits: header_len is at most MAX_HEADER_BYTES.
    let len =
        u32::try_from(header_len).map_err(|_| Error::HeaderTooLarge { size: header_len, limit: MAX_HEADER_BYTES })?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Decodes one message whose body has at most `max_body_bytes` (and whose header at most [`MAX_HEADER_BYTES`]).
pub fn decode(message: &[u8], max_body_bytes: usize) -> Result<Decoded, Error> {
    let limit = 4usize.saturating_add(MAX_HEADER_BYTES).saturating_add(max_body_bytes);
    if message.len() > limit {
        return Err(Error::TooLarge { size: message.len(), limit });
    }
    let Some((len, rest)) = message.split_first_chunk::<4>() else {
        return Err(Error::Truncated { size: message.len() });
    };
    let declared = u32::from_be_bytes(*len) as usize;
    if declared > MAX_HEADER_BYTES {
        return Err(Error::HeaderTooLarge { size: declared, limit: MAX_HEADER_BYTES });
    }
    if declared > rest.len() {
        return Err(Error::HeaderOverrun { declared, available: rest.len() });
    }
    let (header, body) = rest.split_at(declared);
    if body.len() > max_body_bytes {
        return Err(Error::BodyTooLarge { size: body.len(), limit: max_body_bytes });
    }

    // The type is read first, so that a newer peer's frame types are told apart from malformed known ones.
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    let tag: Tag<'_> = serde_json::from_slice(header).map_err(|e| Error::Header(e.to_string()))?;
    if !Frame::TYPES.contains(&tag.kind.as_ref()) {
        return Ok(Decoded::Unknown { frame_type: tag.kind.into_owned() });
    }
    let mut frame: Frame = serde_json::from_slice(header).map_err(|e| Error::Header(e.to_string()))?;
    match &mut frame {
        Frame::Request(r) => r.body = body.to_vec(),
        Frame::Response(r) => r.body = body.to_vec(),
        other if !body.is_empty() => {
            return Err(Error::UnexpectedBody { frame: other.type_name(), bytes: body.len() });
        }
        _ => {}
    }
    Ok(Decoded::Frame(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Headers, Ping, Request};

    #[test]
    fn the_layout_is_a_length_a_json_header_and_the_raw_body() {
        let frame = Frame::Request(Request {
            id: 7,
            deadline_ms: 0,
            method: "POST".into(),
            url: "https://localhost:8585/scim/Users".into(),
            headers: Headers(vec![("content-type".into(), "application/scim+json".into())]),
            body: vec![0, 159, 146, 150],
        });
        let bytes = encode(&frame).unwrap();
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[4..4 + len]).unwrap();
        assert_eq!(header["type"], "request");
        assert_eq!(header["deadlineMs"], 0);
        assert_eq!(header["headers"], serde_json::json!([["content-type", "application/scim+json"]]));
        assert!(header.get("body").is_none(), "the body is not in the header");
        assert_eq!(&bytes[4 + len..], &[0, 159, 146, 150]);
        assert_eq!(decode(&bytes, 4).unwrap(), Decoded::Frame(frame));
        assert_eq!(decode(&bytes, 3), Err(Error::BodyTooLarge { size: 4, limit: 3 }));
    }

    #[test]
    fn bodies_only_on_requests_and_responses() {
        let mut bytes = encode(&Frame::Ping(Ping { nonce: 1 })).unwrap();
        bytes.push(b'x');
        assert_eq!(decode(&bytes, 10), Err(Error::UnexpectedBody { frame: "ping", bytes: 1 }));
    }
}
