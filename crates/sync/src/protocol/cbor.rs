//! A strict CBOR (RFC 8949) reader and writer for the automerge-repo wire protocol, on
//! minicbor's `Decoder` and `Encoder` (as automerge-repo-rs).
//!
//! The reader decodes one data item into a [`CborValue`] tree and enforces hard limits
//! before it allocates anything: the input length, the nesting depth, the number of data
//! items, and the length of text strings. A declared length is never trusted: strings and
//! byte strings must fit in the bytes that remain, and containers must be able to hold
//! their declared items in the remaining input. Trailing bytes after the top-level item
//! are an error. Every failure is a [`CborError`] carrying the byte offset.
//!
//! The writer (minicbor's [`Encoder`]) emits definite lengths with the shortest argument
//! encoding, which is what cbor-x (the encoder of the JS automerge-repo) decodes.

use std::convert::Infallible;

use minicbor::data::{Int, Tag};
use minicbor::encode::Error as EncodeError;
use minicbor::{Decoder, Encoder};

/// Nesting depth the decoder never exceeds, whatever [`CborLimits::max_depth`] says: the
/// decoder is recursive, and this bounds its stack use.
pub const HARD_MAX_DEPTH: usize = 64;

/// The tag cbor-x wraps around a byte string when it encodes a `Uint8Array` (RFC 8746).
pub const TAG_UINT8_ARRAY: u64 = 64;

/// One decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum CborValue {
    /// Major type 0: an unsigned integer.
    Unsigned(u64),
    /// Major type 1: the negative integer `-1 - n`, holding `n`.
    Negative(u64),
    /// Major type 2: a byte string (also what tag 64 around a byte string decodes to).
    Bytes(Vec<u8>),
    /// Major type 3: a UTF-8 text string.
    Text(String),
    /// Major type 4: an array.
    Array(Vec<CborValue>),
    /// Major type 5: a map, as key/value pairs in wire order (keys may be any item).
    Map(Vec<(CborValue, CborValue)>),
    /// Major type 6: a tagged item other than tag 64 around a byte string.
    Tag(u64, Box<CborValue>),
    /// Simple values 20 and 21.
    Bool(bool),
    /// Simple value 22.
    Null,
    /// Simple value 23.
    Undefined,
    /// A half, single or double precision float, widened to `f64`.
    Float(f64),
}

impl CborValue {
    /// A short name of the item's kind, for error messages.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Unsigned(_) => "unsigned integer",
            Self::Negative(_) => "negative integer",
            Self::Bytes(_) => "byte string",
            Self::Text(_) => "text string",
            Self::Array(_) => "array",
            Self::Map(_) => "map",
            Self::Tag(..) => "tagged item",
            Self::Bool(_) => "boolean",
            Self::Null => "null",
            Self::Undefined => "undefined",
            Self::Float(_) => "float",
        }
    }
}

/// Limits the decoder enforces before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CborLimits {
    /// The longest input accepted, in bytes.
    pub max_input_bytes: usize,
    /// The most containers (arrays, maps, tags) one item may be nested in; capped at
    /// [`HARD_MAX_DEPTH`].
    pub max_depth: usize,
    /// The most data items (every key, value and element at any depth, the top-level item
    /// included) one input may hold. An array or map declaring more is refused before
    /// anything is allocated.
    pub max_items: usize,
    /// The longest text string accepted, in bytes. Byte strings are bounded only by the
    /// input length.
    pub max_text_bytes: usize,
}

impl Default for CborLimits {
    fn default() -> Self {
        Self {
            max_input_bytes: 16 * 1024 * 1024,
            max_depth: 16,
            max_items: 65_536,
            max_text_bytes: 64 * 1024,
        }
    }
}

/// Why a CBOR input was rejected. Every variant names the byte offset where the problem
/// was found; none echoes the input's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input is longer than [`CborLimits::max_input_bytes`].
    #[error("CBOR input is {len} bytes, over the limit of {max}")]
    InputTooLarge {
        /// The input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ended inside an item.
    #[error("CBOR input ends unexpectedly at byte {offset}")]
    UnexpectedEnd {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// Additional information 28, 29 or 30, which RFC 8949 reserves.
    #[error("reserved additional information {info} at byte {offset}")]
    ReservedAdditionalInfo {
        /// Offset of the item's initial byte.
        offset: usize,
        /// The additional information value.
        info: u8,
    },
    /// An indefinite length on a major type that cannot have one (integers, tags).
    #[error("indefinite length is not allowed for major type {major} at byte {offset}")]
    IndefiniteNotAllowed {
        /// Offset of the item's initial byte.
        offset: usize,
        /// The major type.
        major: u8,
    },
    /// A "break" byte (0xff) outside an indefinite-length item.
    #[error("unexpected break byte at {offset}")]
    UnexpectedBreak {
        /// Offset of the break byte.
        offset: usize,
    },
    /// A chunk of an indefinite-length string is not a definite string of the same type.
    #[error("invalid chunk in an indefinite-length string at byte {offset}")]
    InvalidStringChunk {
        /// Offset of the chunk's initial byte.
        offset: usize,
    },
    /// Containers are nested deeper than allowed.
    #[error("CBOR nesting deeper than {max} at byte {offset}")]
    NestingTooDeep {
        /// Offset of the container that went too deep.
        offset: usize,
        /// The depth limit.
        max: usize,
    },
    /// More data items than allowed.
    #[error("more than {max} CBOR items at byte {offset}")]
    TooManyItems {
        /// Offset of the item that went over the limit.
        offset: usize,
        /// The item limit.
        max: usize,
    },
    /// A text string longer than [`CborLimits::max_text_bytes`].
    #[error("text string of {len} bytes over the limit of {max} at byte {offset}")]
    TextTooLong {
        /// Offset of the string's initial byte.
        offset: usize,
        /// Its declared (or accumulated) length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A declared length that cannot fit in the remaining input.
    #[error("declared length {declared} exceeds the {remaining} bytes left at byte {offset}")]
    LengthBeyondInput {
        /// Offset of the item's initial byte.
        offset: usize,
        /// The declared length (items for containers, bytes for strings).
        declared: u64,
        /// Bytes left after the item's head.
        remaining: usize,
    },
    /// A text string that is not valid UTF-8.
    #[error("text string is not valid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Offset of the string's initial byte.
        offset: usize,
    },
    /// A simple value other than false, true, null and undefined.
    #[error("unsupported simple value {value} at byte {offset}")]
    UnsupportedSimpleValue {
        /// Offset of the item's initial byte.
        offset: usize,
        /// The simple value.
        value: u8,
    },
    /// Tag 64 (`Uint8Array`) around something other than a byte string.
    #[error("tag 64 must wrap a byte string, at byte {offset}")]
    InvalidUint8ArrayTag {
        /// Offset of the tag's initial byte.
        offset: usize,
    },
    /// Bytes after the end of the top-level item.
    #[error("{count} trailing bytes after the CBOR item at byte {offset}")]
    TrailingBytes {
        /// Where the top-level item ended.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
}

/// Decodes exactly one CBOR data item from `input`, enforcing `limits`.
///
/// # Errors
/// A [`CborError`] if the input is malformed, exceeds a limit, or has trailing bytes.
pub fn decode(input: &[u8], limits: &CborLimits) -> Result<CborValue, CborError> {
    if input.len() > limits.max_input_bytes {
        return Err(CborError::InputTooLarge {
            len: input.len(),
            max: limits.max_input_bytes,
        });
    }
    let mut reader = Reader {
        d: Decoder::new(input),
        items: 0,
        max_items: limits.max_items,
        max_depth: limits.max_depth.min(HARD_MAX_DEPTH),
        max_text_bytes: limits.max_text_bytes,
    };
    let value = reader.item(0)?;
    let end = reader.d.position();
    if end < input.len() {
        return Err(CborError::TrailingBytes {
            offset: end,
            count: input.len() - end,
        });
    }
    Ok(value)
}

const BREAK: u8 = 0xff;

/// Walks one input with minicbor's [`Decoder`], keeping the counts the limits need.
///
/// Each item's initial byte is looked at here first, so minicbor is only ever asked for the
/// type that is there: its reads then fail only for want of input.
struct Reader<'a> {
    d: Decoder<'a>,
    items: usize,
    max_items: usize,
    max_depth: usize,
    max_text_bytes: usize,
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.d.input().len().saturating_sub(self.d.position())
    }

    /// The byte at the decoder's position, not consumed.
    fn peek(&self) -> Result<u8, CborError> {
        let offset = self.d.position();
        self.d
            .input()
            .get(offset)
            .copied()
            .ok_or(CborError::UnexpectedEnd { offset })
    }

    /// Consumes a break byte if one is next.
    fn at_break(&mut self) -> Result<bool, CborError> {
        let found = self.peek()? == BREAK;
        if found {
            self.d.set_position(self.d.position() + 1);
        }
        Ok(found)
    }

    /// Runs one minicbor read of an item whose initial byte was checked: it can fail only
    /// because the input ends, at the position the decoder stopped at.
    fn read<T>(
        &mut self,
        read: impl FnOnce(&mut Decoder<'a>) -> Result<T, minicbor::decode::Error>,
    ) -> Result<T, CborError> {
        read(&mut self.d).map_err(|_| CborError::UnexpectedEnd {
            offset: self.d.position(),
        })
    }

    fn count_item(&mut self, offset: usize) -> Result<(), CborError> {
        self.items += 1;
        if self.items > self.max_items {
            return Err(CborError::TooManyItems {
                offset,
                max: self.max_items,
            });
        }
        Ok(())
    }

    /// Refuses a container declaring `declared` items (each at least one byte) before any
    /// allocation happens.
    fn check_declared_items(&self, offset: usize, declared: u64) -> Result<(), CborError> {
        let budget = to_u64(self.max_items.saturating_sub(self.items));
        if declared > budget {
            return Err(CborError::TooManyItems {
                offset,
                max: self.max_items,
            });
        }
        if declared > to_u64(self.remaining()) {
            return Err(CborError::LengthBeyondInput {
                offset,
                declared,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    fn check_depth(&self, offset: usize, depth: usize) -> Result<usize, CborError> {
        let inner = depth + 1;
        if inner > self.max_depth {
            return Err(CborError::NestingTooDeep {
                offset,
                max: self.max_depth,
            });
        }
        Ok(inner)
    }

    fn check_text_len(&self, offset: usize, len: u64) -> Result<(), CborError> {
        if len > to_u64(self.max_text_bytes) {
            return Err(CborError::TextTooLong {
                offset,
                len,
                max: self.max_text_bytes,
            });
        }
        Ok(())
    }

    /// Reads the head of the definite string at `offset` (additional information 0-27):
    /// its declared length.
    ///
    /// minicbor reads a string's length only together with its body, and refuses a body
    /// longer than the input without saying how long it was declared. The length must be
    /// known first (to refuse a too-long text before reading it, and to report what was
    /// declared), so the head is read by minicbor as an unsigned integer: the argument is
    /// encoded the same way under every major type.
    fn string_len(&mut self, offset: usize) -> Result<u64, CborError> {
        let rest = self.d.input().get(offset..).unwrap_or_default();
        let mut head = [0u8; 9];
        let n = rest.len().min(head.len());
        head[..n].copy_from_slice(&rest[..n]);
        head[0] &= 0x1f;
        let mut d = Decoder::new(&head[..n]);
        let len = d.u64().map_err(|_| CborError::UnexpectedEnd {
            offset: offset + d.position(),
        })?;
        self.d.set_position(offset + d.position());
        Ok(len)
    }

    /// Reads `len` bytes of the string whose head started at `offset`, refusing a length
    /// beyond the remaining input.
    fn string_body(&mut self, offset: usize, len: u64) -> Result<&'a [u8], CborError> {
        let remaining = self.remaining();
        let start = self.d.position();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => {
                self.d.set_position(start + n);
                Ok(self.d.input().get(start..start + n).unwrap_or_default())
            }
            _ => Err(CborError::LengthBeyondInput {
                offset,
                declared: len,
                remaining,
            }),
        }
    }

    /// Reads the definite byte string at `offset`.
    fn bytes(&mut self, offset: usize) -> Result<&'a [u8], CborError> {
        match self.d.bytes() {
            Ok(body) => Ok(body),
            // Its head or body runs past the input: say which, and what was declared.
            Err(_) => {
                let len = self.string_len(offset)?;
                self.string_body(offset, len)
            }
        }
    }

    /// Reads the definite text string at `offset`; `text_offset` is where the whole text
    /// began and `text_so_far` how many of its bytes came before this chunk.
    #[inline(always)]
    fn text(
        &mut self,
        offset: usize,
        text_offset: usize,
        text_so_far: usize,
    ) -> Result<&'a str, CborError> {
        let text = match self.d.str() {
            Ok(text) => text,
            Err(_) => self.text_again(offset, text_offset, text_so_far)?,
        };
        self.check_text_len(text_offset, to_u64(text_so_far.saturating_add(text.len())))?;
        Ok(text)
    }

    /// Reads a text that minicbor refused again, to report the first of: over the length
    /// limit, past the input, not UTF-8 (the length is checked before the body is read).
    #[cold]
    fn text_again(
        &mut self,
        offset: usize,
        text_offset: usize,
        text_so_far: usize,
    ) -> Result<&'a str, CborError> {
        let len = self.string_len(offset)?;
        self.check_text_len(text_offset, to_u64(text_so_far).saturating_add(len))?;
        let body = self.string_body(offset, len)?;
        std::str::from_utf8(body).map_err(|_| CborError::InvalidUtf8 { offset })
    }

    /// Reads the chunks of the indefinite-length string of major type 2 or 3 at `offset`,
    /// up to and including its break byte, handing each chunk's offset to `chunk`.
    fn chunks(
        &mut self,
        offset: usize,
        major: u8,
        mut chunk: impl FnMut(&mut Self, usize) -> Result<(), CborError>,
    ) -> Result<(), CborError> {
        self.d.set_position(offset + 1);
        while !self.at_break()? {
            let chunk_offset = self.d.position();
            let initial = self.peek()?;
            match initial & 0x1f {
                _ if initial >> 5 != major => {
                    return Err(CborError::InvalidStringChunk {
                        offset: chunk_offset,
                    });
                }
                info @ 28..=30 => {
                    return Err(CborError::ReservedAdditionalInfo {
                        offset: chunk_offset,
                        info,
                    });
                }
                31 => {
                    return Err(CborError::InvalidStringChunk {
                        offset: chunk_offset,
                    });
                }
                _ => chunk(self, chunk_offset)?,
            }
        }
        Ok(())
    }

    /// Decodes one item nested inside `depth` containers.
    fn item(&mut self, depth: usize) -> Result<CborValue, CborError> {
        let offset = self.d.position();
        let initial = self.peek()?;
        self.count_item(offset)?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        match (major, info) {
            (_, 28..=30) => Err(CborError::ReservedAdditionalInfo { offset, info }),
            (7, 31) => Err(CborError::UnexpectedBreak { offset }),
            (0 | 1 | 6, 31) => Err(CborError::IndefiniteNotAllowed { offset, major }),
            (0, _) => Ok(CborValue::Unsigned(self.read(Decoder::u64)?)),
            (1, _) => {
                // minicbor gives -1 - n; n itself is what the tree keeps.
                let value = i128::from(self.read(Decoder::int)?);
                Ok(CborValue::Negative(
                    u64::try_from(-1 - value).unwrap_or(u64::MAX),
                ))
            }
            (2, 31) => {
                let mut bytes = Vec::new();
                self.chunks(offset, 2, |r, at| {
                    bytes.extend_from_slice(r.bytes(at)?);
                    Ok(())
                })?;
                Ok(CborValue::Bytes(bytes))
            }
            (2, _) => Ok(CborValue::Bytes(self.bytes(offset)?.to_vec())),
            (3, 31) => {
                let mut text = String::new();
                self.chunks(offset, 3, |r, at| {
                    text.push_str(r.text(at, offset, text.len())?);
                    Ok(())
                })?;
                Ok(CborValue::Text(text))
            }
            (3, _) => Ok(CborValue::Text(self.text(offset, offset, 0)?.to_owned())),
            (4, _) => {
                let len = self.read(Decoder::array)?;
                let inner = self.check_depth(offset, depth)?;
                let mut items = Vec::new();
                if let Some(n) = len {
                    self.check_declared_items(offset, n)?;
                    for _ in 0..n {
                        items.push(self.item(inner)?);
                    }
                } else {
                    while !self.at_break()? {
                        items.push(self.item(inner)?);
                    }
                }
                Ok(CborValue::Array(items))
            }
            (5, _) => {
                let len = self.read(Decoder::map)?;
                let inner = self.check_depth(offset, depth)?;
                let mut entries = Vec::new();
                if let Some(n) = len {
                    self.check_declared_items(offset, n.saturating_mul(2))?;
                    for _ in 0..n {
                        entries.push((self.item(inner)?, self.item(inner)?));
                    }
                } else {
                    while !self.at_break()? {
                        entries.push((self.item(inner)?, self.item(inner)?));
                    }
                }
                Ok(CborValue::Map(entries))
            }
            (6, _) => {
                let tag = self.read(Decoder::tag)?.as_u64();
                let inner = self.check_depth(offset, depth)?;
                match (tag, self.item(inner)?) {
                    (TAG_UINT8_ARRAY, CborValue::Bytes(bytes)) => Ok(CborValue::Bytes(bytes)),
                    (TAG_UINT8_ARRAY, _) => Err(CborError::InvalidUint8ArrayTag { offset }),
                    (tag, value) => Ok(CborValue::Tag(tag, Box::new(value))),
                }
            }
            (_, 20 | 21) => Ok(CborValue::Bool(self.read(Decoder::bool)?)),
            (_, 22) => self.read(Decoder::null).map(|()| CborValue::Null),
            (_, 23) => self.read(Decoder::undefined).map(|()| CborValue::Undefined),
            (_, 24) => Err(CborError::UnsupportedSimpleValue {
                offset,
                value: self.read(Decoder::simple)?,
            }),
            (_, 25..=27) => Ok(CborValue::Float(self.read(Decoder::f64)?)),
            (_, value) => Err(CborError::UnsupportedSimpleValue { offset, value }),
        }
    }
}

/// Encodes one value with definite lengths and the shortest heads. Map entries keep
/// their order.
pub fn encode(value: &CborValue) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    let written = write_value(&mut e, value);
    // Writing into a Vec cannot fail: its write error type is `Infallible`.
    debug_assert!(written.is_ok());
    e.into_writer()
}

fn write_value(e: &mut Encoder<Vec<u8>>, value: &CborValue) -> Result<(), EncodeError<Infallible>> {
    match value {
        CborValue::Unsigned(n) => e.u64(*n)?,
        CborValue::Negative(n) => {
            e.int(Int::try_from(-1 - i128::from(*n)).map_err(EncodeError::custom)?)?
        }
        CborValue::Bytes(bytes) => e.bytes(bytes)?,
        CborValue::Text(text) => e.str(text)?,
        CborValue::Array(items) => {
            e.array(to_u64(items.len()))?;
            for item in items {
                write_value(e, item)?;
            }
            e
        }
        CborValue::Map(entries) => {
            e.map(to_u64(entries.len()))?;
            for (key, value) in entries {
                write_value(e, key)?;
                write_value(e, value)?;
            }
            e
        }
        CborValue::Tag(tag, inner) => {
            e.tag(Tag::new(*tag))?;
            write_value(e, inner)?;
            e
        }
        CborValue::Bool(b) => e.bool(*b)?,
        CborValue::Null => e.null()?,
        CborValue::Undefined => e.undefined()?,
        CborValue::Float(f) => e.f64(*f)?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> Result<CborValue, CborError> {
        decode(bytes, &CborLimits::default())
    }

    #[test]
    fn decodes_rfc8949_appendix_a_examples() {
        assert_eq!(dec(&[0x00]), Ok(CborValue::Unsigned(0)));
        assert_eq!(dec(&[0x17]), Ok(CborValue::Unsigned(23)));
        assert_eq!(dec(&[0x18, 0x18]), Ok(CborValue::Unsigned(24)));
        assert_eq!(dec(&[0x19, 0x03, 0xe8]), Ok(CborValue::Unsigned(1000)));
        assert_eq!(
            dec(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Ok(CborValue::Unsigned(u64::MAX))
        );
        assert_eq!(dec(&[0x20]), Ok(CborValue::Negative(0)));
        assert_eq!(dec(&[0x38, 0x63]), Ok(CborValue::Negative(99)));
        assert_eq!(dec(&[0xf9, 0x3c, 0x00]), Ok(CborValue::Float(1.0)));
        assert_eq!(dec(&[0xf9, 0xc4, 0x00]), Ok(CborValue::Float(-4.0)));
        assert_eq!(
            dec(&[0xf9, 0x00, 0x01]),
            Ok(CborValue::Float(2f64.powi(-24)))
        );
        assert_eq!(
            dec(&[0xf9, 0x7c, 0x00]),
            Ok(CborValue::Float(f64::INFINITY))
        );
        assert!(matches!(dec(&[0xf9, 0x7e, 0x00]), Ok(CborValue::Float(f)) if f.is_nan()));
        assert_eq!(
            dec(&[0xfa, 0x47, 0xc3, 0x50, 0x00]),
            Ok(CborValue::Float(100000.0))
        );
        assert_eq!(
            dec(&[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]),
            Ok(CborValue::Float(1.1))
        );
        assert_eq!(dec(&[0xf4]), Ok(CborValue::Bool(false)));
        assert_eq!(dec(&[0xf5]), Ok(CborValue::Bool(true)));
        assert_eq!(dec(&[0xf6]), Ok(CborValue::Null));
        assert_eq!(dec(&[0xf7]), Ok(CborValue::Undefined));
        assert_eq!(
            dec(&[0x44, 1, 2, 3, 4]),
            Ok(CborValue::Bytes(vec![1, 2, 3, 4]))
        );
        assert_eq!(
            dec(&[0x62, 0xc3, 0xbc]),
            Ok(CborValue::Text("\u{fc}".into()))
        );
        assert_eq!(
            dec(&[0x5f, 0x42, 1, 2, 0x43, 3, 4, 5, 0xff]),
            Ok(CborValue::Bytes(vec![1, 2, 3, 4, 5]))
        );
        assert_eq!(
            dec(&[
                0x7f, 0x65, b's', b't', b'r', b'e', b'a', 0x64, b'm', b'i', b'n', b'g', 0xff
            ]),
            Ok(CborValue::Text("streaming".into()))
        );
        assert_eq!(
            dec(&[0x9f, 0x01, 0x82, 0x02, 0x03, 0xff]),
            Ok(CborValue::Array(vec![
                CborValue::Unsigned(1),
                CborValue::Array(vec![CborValue::Unsigned(2), CborValue::Unsigned(3)]),
            ]))
        );
        assert_eq!(
            dec(&[0xbf, 0x61, b'a', 0x01, 0xff]),
            Ok(CborValue::Map(vec![(
                CborValue::Text("a".into()),
                CborValue::Unsigned(1)
            )]))
        );
        assert_eq!(
            dec(&[0xa1, 0x01, 0x02]),
            Ok(CborValue::Map(vec![(
                CborValue::Unsigned(1),
                CborValue::Unsigned(2)
            )]))
        );
        assert_eq!(
            dec(&[0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0]),
            Ok(CborValue::Tag(1, Box::new(CborValue::Unsigned(1363896240))))
        );
    }

    #[test]
    fn unwraps_tag_64_around_bytes_and_rejects_it_elsewhere() {
        assert_eq!(
            dec(&[0xd8, 0x40, 0x42, 0xaa, 0xbb]),
            Ok(CborValue::Bytes(vec![0xaa, 0xbb]))
        );
        assert_eq!(
            dec(&[0xd8, 0x40, 0x01]),
            Err(CborError::InvalidUint8ArrayTag { offset: 0 })
        );
    }

    #[test]
    fn rejects_malformed_items_with_offsets() {
        assert_eq!(dec(&[]), Err(CborError::UnexpectedEnd { offset: 0 }));
        assert_eq!(
            dec(&[0x9f, 0x01]),
            Err(CborError::UnexpectedEnd { offset: 2 })
        );
        assert_eq!(
            dec(&[0x19, 0x01]),
            Err(CborError::UnexpectedEnd { offset: 1 })
        );
        assert_eq!(
            dec(&[0x82, 0x01]),
            Err(CborError::LengthBeyondInput {
                offset: 0,
                declared: 2,
                remaining: 1
            })
        );
        assert_eq!(
            dec(&[0x1c]),
            Err(CborError::ReservedAdditionalInfo {
                offset: 0,
                info: 28
            })
        );
        assert_eq!(
            dec(&[0x1f]),
            Err(CborError::IndefiniteNotAllowed {
                offset: 0,
                major: 0
            })
        );
        assert_eq!(
            dec(&[0xdf, 0x00]),
            Err(CborError::IndefiniteNotAllowed {
                offset: 0,
                major: 6
            })
        );
        assert_eq!(dec(&[0xff]), Err(CborError::UnexpectedBreak { offset: 0 }));
        assert_eq!(
            dec(&[0x81, 0xff]),
            Err(CborError::UnexpectedBreak { offset: 1 })
        );
        assert_eq!(
            dec(&[0x5f, 0x61, b'a', 0xff]),
            Err(CborError::InvalidStringChunk { offset: 1 })
        );
        assert_eq!(
            dec(&[0x7f, 0x7f, 0xff, 0xff]),
            Err(CborError::InvalidStringChunk { offset: 1 })
        );
        assert_eq!(
            dec(&[0x62, 0xff, 0xfe]),
            Err(CborError::InvalidUtf8 { offset: 0 })
        );
        assert_eq!(
            dec(&[0xf0]),
            Err(CborError::UnsupportedSimpleValue {
                offset: 0,
                value: 16
            })
        );
        assert_eq!(
            dec(&[0xf8, 0xff]),
            Err(CborError::UnsupportedSimpleValue {
                offset: 0,
                value: 255
            })
        );
        assert_eq!(
            dec(&[0x01, 0x02]),
            Err(CborError::TrailingBytes {
                offset: 1,
                count: 1
            })
        );
    }

    #[test]
    fn refuses_huge_declared_lengths_before_allocating() {
        let huge_bytes = [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            dec(&huge_bytes),
            Err(CborError::LengthBeyondInput {
                offset: 0,
                declared: u64::MAX,
                remaining: 0
            })
        );
        let huge_text = [0x7a, 0xff, 0xff, 0xff, 0xff, b'a'];
        assert!(matches!(
            dec(&huge_text),
            Err(CborError::TextTooLong { offset: 0, .. })
        ));
        let huge_array = [0x9a, 0x00, 0x00, 0x10, 0x00, 0x01];
        assert_eq!(
            dec(&huge_array),
            Err(CborError::LengthBeyondInput {
                offset: 0,
                declared: 4096,
                remaining: 1
            })
        );
        let huge_map = [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            dec(&huge_map),
            Err(CborError::TooManyItems {
                offset: 0,
                max: 65_536
            })
        );
    }

    #[test]
    fn enforces_depth_items_and_input_limits() {
        let limits = CborLimits {
            max_input_bytes: 8,
            max_depth: 2,
            max_items: 4,
            max_text_bytes: 2,
        };
        assert_eq!(
            decode(&[0x81, 0x81, 0x00], &limits),
            Ok(CborValue::Array(vec![CborValue::Array(vec![
                CborValue::Unsigned(0)
            ])]))
        );
        assert_eq!(
            decode(&[0x81, 0x81, 0x81, 0x00], &limits),
            Err(CborError::NestingTooDeep { offset: 2, max: 2 })
        );
        assert_eq!(
            decode(&[0x84, 0, 0, 0, 0], &limits),
            Err(CborError::TooManyItems { offset: 0, max: 4 })
        );
        assert_eq!(
            decode(&[0x9f, 0, 0, 0, 0, 0xff], &limits),
            Err(CborError::TooManyItems { offset: 4, max: 4 })
        );
        assert_eq!(
            decode(&[0x63, b'a', b'b', b'c'], &limits),
            Err(CborError::TextTooLong {
                offset: 0,
                len: 3,
                max: 2
            })
        );
        assert_eq!(
            decode(&[0x7f, 0x62, b'a', b'b', 0x61, b'c', 0xff], &limits),
            Err(CborError::TextTooLong {
                offset: 0,
                len: 3,
                max: 2
            })
        );
        assert_eq!(
            decode(&[0; 9], &limits),
            Err(CborError::InputTooLarge { len: 9, max: 8 })
        );
        let very_deep = vec![0x81; 10_000];
        let generous = CborLimits {
            max_depth: usize::MAX,
            ..CborLimits::default()
        };
        assert_eq!(
            decode(&very_deep, &generous),
            Err(CborError::NestingTooDeep {
                offset: HARD_MAX_DEPTH,
                max: HARD_MAX_DEPTH
            })
        );
    }

    #[test]
    fn writer_uses_shortest_heads_and_round_trips() {
        let cases: [(u64, &[u8]); 7] = [
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 0x18]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 0x01, 0x00]),
            (65_536, &[0x1a, 0x00, 0x01, 0x00, 0x00]),
            (1 << 32, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (n, expected) in cases {
            assert_eq!(encode(&CborValue::Unsigned(n)), expected, "{n}");
        }
        let value = CborValue::Map(vec![
            (CborValue::Text("a".into()), CborValue::Negative(9)),
            (
                CborValue::Text("b".into()),
                CborValue::Array(vec![
                    CborValue::Bytes(vec![1, 2]),
                    CborValue::Bool(true),
                    CborValue::Null,
                    CborValue::Undefined,
                    CborValue::Float(-2.5),
                    CborValue::Tag(7, Box::new(CborValue::Text("x".into()))),
                ]),
            ),
        ]);
        assert_eq!(dec(&encode(&value)), Ok(value));
    }

    #[test]
    fn string_heads_and_chunks_are_checked_before_their_bodies() {
        assert_eq!(
            dec(&[0x59, 0x01]),
            Err(CborError::UnexpectedEnd { offset: 1 })
        );
        assert_eq!(
            dec(&[0x5f, 0x5c]),
            Err(CborError::ReservedAdditionalInfo {
                offset: 1,
                info: 28
            })
        );
        assert_eq!(
            dec(&[0x7f, 0x7a, 0xff, 0xff, 0xff, 0xff]),
            Err(CborError::TextTooLong {
                offset: 0,
                len: 0xffff_ffff,
                max: 64 * 1024
            })
        );
        assert_eq!(
            dec(&[0x7f, 0x62, 0xff, 0xfe, 0xff]),
            Err(CborError::InvalidUtf8 { offset: 1 })
        );
        assert_eq!(
            dec(&[0x7f, 0x61, b'a', 0x62, 0xff]),
            Err(CborError::LengthBeyondInput {
                offset: 3,
                declared: 2,
                remaining: 1
            })
        );
    }

    #[test]
    fn extreme_integers_round_trip_byte_for_byte() {
        let min = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(dec(&min), Ok(CborValue::Negative(u64::MAX)));
        assert_eq!(encode(&CborValue::Negative(u64::MAX)), min);
        assert_eq!(encode(&CborValue::Negative(23)), [0x37]);
        assert_eq!(encode(&CborValue::Negative(24)), [0x38, 0x18]);
        assert_eq!(
            encode(&CborValue::Tag(
                TAG_UINT8_ARRAY,
                Box::new(CborValue::Bytes(vec![7]))
            )),
            [0xd8, 0x40, 0x41, 0x07]
        );
    }
}
