#![allow(dead_code, missing_docs, clippy::all)]
//! TEMPORARY: the hand-written codec before minicbor, for a differential test. A small, strict CBOR (RFC 8949) reader and writer for the automerge-repo wire protocol.
//!
//! The reader decodes one data item into a [`CborValue`] tree and enforces hard limits
//! before it allocates anything: the input length, the nesting depth, the number of data
//! items, and the length of text strings. A declared length is never trusted: strings and
//! byte strings must fit in the bytes that remain, and containers must be able to hold
//! their declared items in the remaining input. Trailing bytes after the top-level item
//! are an error. Every failure is a [`CborError`] carrying the byte offset.
//!
//! The writer emits definite lengths with the shortest argument encoding, which is what
//! cbor-x (the encoder of the JS automerge-repo) decodes.

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
    let mut decoder = Decoder {
        input,
        pos: 0,
        items: 0,
        max_items: limits.max_items,
        max_depth: limits.max_depth.min(HARD_MAX_DEPTH),
        max_text_bytes: limits.max_text_bytes,
    };
    let value = decoder.item(0)?;
    if decoder.pos < input.len() {
        return Err(CborError::TrailingBytes {
            offset: decoder.pos,
            count: input.len() - decoder.pos,
        });
    }
    Ok(value)
}

const BREAK: u8 = 0xff;

/// The argument of an item's head.
enum Arg {
    /// A definite value or length.
    Value(u64),
    /// Additional information 31.
    Indefinite,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    max_items: usize,
    max_depth: usize,
    max_text_bytes: usize,
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.input.len())
            .ok_or(CborError::UnexpectedEnd { offset: self.pos })?;
        let slice = self
            .input
            .get(self.pos..end)
            .ok_or(CborError::UnexpectedEnd { offset: self.pos })?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or(CborError::UnexpectedEnd { offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Result<u8, CborError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(CborError::UnexpectedEnd { offset: self.pos })
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads the argument that follows an initial byte with additional information `info`.
    fn arg(&mut self, offset: usize, info: u8) -> Result<Arg, CborError> {
        Ok(match info {
            0..=23 => Arg::Value(u64::from(info)),
            24 => Arg::Value(u64::from(self.byte()?)),
            25 => Arg::Value(u64::from(u16::from_be_bytes(self.be()?))),
            26 => Arg::Value(u64::from(u32::from_be_bytes(self.be()?))),
            27 => Arg::Value(u64::from_be_bytes(self.be()?)),
            28..=30 => return Err(CborError::ReservedAdditionalInfo { offset, info }),
            _ => Arg::Indefinite,
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

    /// Reads `len` bytes of a definite string whose head started at `offset`.
    fn string_body(&mut self, offset: usize, len: u64) -> Result<&'a [u8], CborError> {
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => self.take(n),
            _ => Err(CborError::LengthBeyondInput {
                offset,
                declared: len,
                remaining,
            }),
        }
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

    fn text_chunk(&mut self, offset: usize, len: u64) -> Result<&'a str, CborError> {
        self.check_text_len(offset, len)?;
        let body = self.string_body(offset, len)?;
        std::str::from_utf8(body).map_err(|_| CborError::InvalidUtf8 { offset })
    }

    /// Reads the chunks of an indefinite-length string of major type `major` (2 or 3),
    /// calling `push` with each definite chunk's offset and length.
    fn chunks(
        &mut self,
        major: u8,
        mut push: impl FnMut(&mut Self, usize, u64) -> Result<(), CborError>,
    ) -> Result<(), CborError> {
        loop {
            let chunk_offset = self.pos;
            if self.peek()? == BREAK {
                self.pos += 1;
                return Ok(());
            }
            let initial = self.byte()?;
            if initial >> 5 != major {
                return Err(CborError::InvalidStringChunk {
                    offset: chunk_offset,
                });
            }
            match self.arg(chunk_offset, initial & 0x1f)? {
                Arg::Value(len) => push(self, chunk_offset, len)?,
                Arg::Indefinite => {
                    return Err(CborError::InvalidStringChunk {
                        offset: chunk_offset,
                    });
                }
            }
        }
    }

    /// Decodes one item nested inside `depth` containers.
    fn item(&mut self, depth: usize) -> Result<CborValue, CborError> {
        let offset = self.pos;
        let initial = self.byte()?;
        self.count_item(offset)?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == 7 {
            return self.simple(offset, info);
        }
        let arg = self.arg(offset, info)?;
        match (major, arg) {
            (0, Arg::Value(n)) => Ok(CborValue::Unsigned(n)),
            (1, Arg::Value(n)) => Ok(CborValue::Negative(n)),
            (2, Arg::Value(len)) => Ok(CborValue::Bytes(self.string_body(offset, len)?.to_vec())),
            (2, Arg::Indefinite) => {
                let mut out = Vec::new();
                self.chunks(2, |d, chunk_offset, len| {
                    out.extend_from_slice(d.string_body(chunk_offset, len)?);
                    Ok(())
                })?;
                Ok(CborValue::Bytes(out))
            }
            (3, Arg::Value(len)) => Ok(CborValue::Text(self.text_chunk(offset, len)?.to_owned())),
            (3, Arg::Indefinite) => {
                let mut out = String::new();
                self.chunks(3, |d, chunk_offset, len| {
                    let total = to_u64(out.len()).saturating_add(len);
                    d.check_text_len(offset, total)?;
                    out.push_str(d.text_chunk(chunk_offset, len)?);
                    Ok(())
                })?;
                Ok(CborValue::Text(out))
            }
            (4, arg) => {
                let inner = self.check_depth(offset, depth)?;
                let mut items = Vec::new();
                match arg {
                    Arg::Value(n) => {
                        self.check_declared_items(offset, n)?;
                        for _ in 0..n {
                            items.push(self.item(inner)?);
                        }
                    }
                    Arg::Indefinite => {
                        while self.peek()? != BREAK {
                            items.push(self.item(inner)?);
                        }
                        self.pos += 1;
                    }
                }
                Ok(CborValue::Array(items))
            }
            (5, arg) => {
                let inner = self.check_depth(offset, depth)?;
                let mut entries = Vec::new();
                match arg {
                    Arg::Value(n) => {
                        self.check_declared_items(offset, n.saturating_mul(2))?;
                        for _ in 0..n {
                            let key = self.item(inner)?;
                            let value = self.item(inner)?;
                            entries.push((key, value));
                        }
                    }
                    Arg::Indefinite => {
                        while self.peek()? != BREAK {
                            let key = self.item(inner)?;
                            let value = self.item(inner)?;
                            entries.push((key, value));
                        }
                        self.pos += 1;
                    }
                }
                Ok(CborValue::Map(entries))
            }
            (6, Arg::Value(tag)) => {
                let inner = self.check_depth(offset, depth)?;
                let value = self.item(inner)?;
                if tag == TAG_UINT8_ARRAY {
                    match value {
                        CborValue::Bytes(bytes) => Ok(CborValue::Bytes(bytes)),
                        _ => Err(CborError::InvalidUint8ArrayTag { offset }),
                    }
                } else {
                    Ok(CborValue::Tag(tag, Box::new(value)))
                }
            }
            (major, _) => Err(CborError::IndefiniteNotAllowed { offset, major }),
        }
    }

    /// Decodes a major type 7 item: simple values and floats.
    fn simple(&mut self, offset: usize, info: u8) -> Result<CborValue, CborError> {
        match info {
            20 => Ok(CborValue::Bool(false)),
            21 => Ok(CborValue::Bool(true)),
            22 => Ok(CborValue::Null),
            23 => Ok(CborValue::Undefined),
            24 => {
                let value = self.byte()?;
                Err(CborError::UnsupportedSimpleValue { offset, value })
            }
            25 => Ok(CborValue::Float(f16_to_f64(u16::from_be_bytes(self.be()?)))),
            26 => Ok(CborValue::Float(f64::from(f32::from_be_bytes(self.be()?)))),
            27 => Ok(CborValue::Float(f64::from_be_bytes(self.be()?))),
            28..=30 => Err(CborError::ReservedAdditionalInfo { offset, info }),
            31 => Err(CborError::UnexpectedBreak { offset }),
            value => Err(CborError::UnsupportedSimpleValue { offset, value }),
        }
    }
}

/// Widens an IEEE 754 half-precision float (RFC 8949 appendix D).
fn f16_to_f64(half: u16) -> f64 {
    let sign = if half & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((half >> 10) & 0x1f);
    let mantissa = f64::from(half & 0x03ff);
    let magnitude = match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    };
    sign * magnitude
}

/// Appends an item head: `major` (0-7) with the shortest encoding of `arg`.
pub fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 24 {
        // arg < 24 fits in the low five bits.
        out.push(major | arg as u8);
    } else if let Ok(b) = u8::try_from(arg) {
        out.extend_from_slice(&[major | 24, b]);
    } else if let Ok(w) = u16::try_from(arg) {
        out.push(major | 25);
        out.extend_from_slice(&w.to_be_bytes());
    } else if let Ok(w) = u32::try_from(arg) {
        out.push(major | 26);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends an unsigned integer.
pub fn write_unsigned(out: &mut Vec<u8>, n: u64) {
    write_head(out, 0, n);
}

/// Appends the negative integer `-1 - n`.
pub fn write_negative(out: &mut Vec<u8>, n: u64) {
    write_head(out, 1, n);
}

/// Appends a definite-length byte string.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_head(out, 2, to_u64(bytes.len()));
    out.extend_from_slice(bytes);
}

/// Appends a definite-length text string.
pub fn write_text(out: &mut Vec<u8>, text: &str) {
    write_head(out, 3, to_u64(text.len()));
    out.extend_from_slice(text.as_bytes());
}

/// Appends the head of a definite-length array of `len` items; the items follow.
pub fn write_array_head(out: &mut Vec<u8>, len: usize) {
    write_head(out, 4, to_u64(len));
}

/// Appends the head of a definite-length map of `len` entries; keys and values follow.
pub fn write_map_head(out: &mut Vec<u8>, len: usize) {
    write_head(out, 5, to_u64(len));
}

/// Appends a boolean.
pub fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xf5 } else { 0xf4 });
}

/// Appends a double-precision float.
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    out.push(0xfb);
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends any value, with definite lengths throughout. Map entries keep their order.
pub fn write_value(out: &mut Vec<u8>, value: &CborValue) {
    match value {
        CborValue::Unsigned(n) => write_unsigned(out, *n),
        CborValue::Negative(n) => write_negative(out, *n),
        CborValue::Bytes(bytes) => write_bytes(out, bytes),
        CborValue::Text(text) => write_text(out, text),
        CborValue::Array(items) => {
            write_array_head(out, items.len());
            for item in items {
                write_value(out, item);
            }
        }
        CborValue::Map(entries) => {
            write_map_head(out, entries.len());
            for (key, value) in entries {
                write_value(out, key);
                write_value(out, value);
            }
        }
        CborValue::Tag(tag, inner) => {
            write_head(out, 6, *tag);
            write_value(out, inner);
        }
        CborValue::Bool(b) => write_bool(out, *b),
        CborValue::Null => out.push(0xf6),
        CborValue::Undefined => out.push(0xf7),
        CborValue::Float(f) => write_f64(out, *f),
    }
}

/// Encodes one value into a new buffer.
pub fn encode(value: &CborValue) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, value);
    out
}
