//! Strict hex encoding and decoding for the wire and the database. It owns only
//! the byte <-> text mapping; length limits and meaning belong to the callers.
//! Decoding and encoding are branch-free in the data, so turning a stored
//! verifier or a secret into text or back does not leak its digits via timing.

/// Decodes non-empty, even-length hex of either case; anything else is `None`.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    let mut out = vec![0u8; s.len() / 2];
    decode_into(s, &mut out).then_some(out)
}

/// Decodes exactly `2 * L` hex characters into an array.
pub fn decode_array<const L: usize>(s: &str) -> Option<[u8; L]> {
    let s = s.as_bytes();
    if L == 0 || s.len() != 2 * L {
        return None;
    }
    let mut out = [0u8; L];
    decode_into(s, &mut out).then_some(out)
}

/// Lowercase hex, two characters per byte.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(encode_nibble(b >> 4)));
        out.push(char::from(encode_nibble(b & 0x0f)));
    }
    out
}

/// `s.len() == 2 * out.len()` is the caller's job. Every character is looked
/// at even after a bad one, so the time depends on the length only.
fn decode_into(s: &[u8], out: &mut [u8]) -> bool {
    let mut bad = 0u16;
    for (pair, o) in s.chunks_exact(2).zip(out.iter_mut()) {
        let hi = decode_nibble(pair[0]);
        let lo = decode_nibble(pair[1]);
        bad |= (hi | lo) >> 8;
        *o = ((hi << 4) | lo) as u8;
    }
    bad == 0
}

/// 0..=15 for a hex digit, 0xffff otherwise. Each range test is a sign trick:
/// `(lo - 1 - c) & (c - hi - 1)` is negative only when `lo <= c <= hi`.
fn decode_nibble(c: u8) -> u16 {
    let c = i16::from(c);
    let mut r: i16 = -1;
    r += (((0x2f - c) & (c - 0x3a)) >> 8) & (c - 0x2f); // '0'..='9'
    r += (((0x40 - c) & (c - 0x47)) >> 8) & (c - 0x36); // 'A'..='F'
    r += (((0x60 - c) & (c - 0x67)) >> 8) & (c - 0x56); // 'a'..='f'
    r as u16
}

/// `n` in 0..=15 to '0'..='9' / 'a'..='f'; `(9 - n) >> 8` is all ones when n > 9.
fn encode_nibble(n: u8) -> u8 {
    let n = i16::from(n);
    (n + 0x30 + (((9 - n) >> 8) & 0x27)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = encode(&all);
        assert_eq!(text.len(), 512);
        assert!(text.starts_with("000102"));
        assert!(text.ends_with("fdfeff"));
        assert_eq!(decode(&text).as_deref(), Some(&all[..]));
        assert_eq!(decode(&text.to_uppercase()).as_deref(), Some(&all[..]));
    }

    #[test]
    fn every_ascii_char_classified() {
        for c in 0u8..=255 {
            let expect = (c as char).to_digit(16).filter(|_| c.is_ascii());
            let s = format!("0{}", c as char);
            let got = decode(&s).map(|v| u32::from(v[0]));
            if c.is_ascii() {
                assert_eq!(got, expect, "char {c:#x}");
            } else {
                // Non-ASCII chars are several UTF-8 bytes; never hex.
                assert_eq!(decode(&s), None);
            }
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "", "0", "abc", "0g", "g0", " 00", "00 ", "0x00", "+1", "zz", "é0", "00\n",
        ] {
            assert_eq!(decode(s), None, "{s:?}");
        }
    }

    #[test]
    fn mixed_case_ok() {
        assert_eq!(decode("aBcD09"), Some(vec![0xab, 0xcd, 0x09]));
        assert_eq!(encode(&[0xab, 0xcd, 0x09]), "abcd09");
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn decode_array_exact_length() {
        assert_eq!(decode_array::<2>("00fF"), Some([0x00, 0xff]));
        assert_eq!(decode_array::<2>("00f"), None);
        assert_eq!(decode_array::<2>("00ff00"), None);
        assert_eq!(decode_array::<2>("00fg"), None);
        assert_eq!(decode_array::<2>(""), None);
        assert_eq!(decode_array::<0>(""), None);
        let m = "049D63231AF0502D7ADF57A32AB2AEDD8ED2FB18040B8B044A24EE8A8BD676AF";
        let arr = decode_array::<32>(m).expect("64 hex chars");
        assert_eq!(encode(&arr), m.to_lowercase());
    }
}
