//! One error type for the whole core, split by who is at fault.
//!
//! Hosts map [`ErrorKind`] to an HTTP status in one place ([`ErrorKind::http_status`]) and put
//! [`Error::code`] (a stable, machine-readable string) and the `Display` text (a human message)
//! in their response body.

use std::fmt;

/// Who is at fault, and therefore how a host should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The transform request itself is wrong: unknown option, duplicate, out-of-range value.
    BadSpec,
    /// The input claims to be a supported format but cannot be decoded.
    Undecodable,
    /// The input (or requested output) format is not supported by this build.
    Unsupported,
    /// The input is larger than the configured [`crate::Limits`].
    OverLimits,
    /// The URL needs a valid signature it does not carry.
    Forbidden,
    /// A bug or an encoder failure: not the client's fault.
    Internal,
}

impl ErrorKind {
    /// The HTTP status a host should answer with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadSpec => 400,
            ErrorKind::OverLimits => 413,
            ErrorKind::Unsupported => 415,
            ErrorKind::Undecodable => 422,
            ErrorKind::Forbidden => 403,
            ErrorKind::Internal => 500,
        }
    }
}

/// What a [`Error::TooCostly`] transform would use too much of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Cpu,
    Memory,
}

/// Everything that can go wrong in the core.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An option name that is not in the vocabulary.
    UnknownOption { key: String },
    /// The same option given twice (aliases count as the same option).
    DuplicateOption { key: &'static str },
    /// A known option with a value that does not parse or is out of range.
    InvalidValue {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// A part of the spec string that is not `key=value`.
    MalformedSpec { part: String },
    /// The requested output is larger than [`crate::Limits::max_output_dimension`].
    OutputTooLarge { width: u64, height: u64, limit: u32 },
    /// The requested output area is larger than [`crate::Limits::max_output_pixels`].
    OutputTooManyPixels { width: u64, height: u64, limit: u64 },
    /// The options are valid but cannot be applied to this image (e.g. trim removes everything).
    NotApplicable { key: &'static str, reason: String },
    /// The input is not a format this build can read.
    UnsupportedInput { detected: Option<&'static str> },
    /// The requested output format is not compiled into this build.
    UnsupportedOutput { format: &'static str },
    /// The input looked like `format` but could not be decoded.
    Undecodable {
        format: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The input is bigger than [`crate::Limits::max_input_bytes`].
    InputTooLarge { bytes: u64, limit: u64 },
    /// The image header declares more pixels than [`crate::Limits::max_input_pixels`].
    TooManyPixels { width: u32, height: u32, limit: u64 },
    /// An animation with more frames or pixels than [`crate::Limits::max_frames`] or
    /// [`crate::Limits::max_animation_pixels`] allow (`anim=false` asks for its first frame).
    AnimationTooLarge {
        frames: u64,
        pixels: u64,
        max_frames: u32,
        max_pixels: u64,
    },
    /// The object key in the URL is not acceptable (empty segment, `..`, backslash, …).
    BadKey { reason: &'static str },
    /// The transform would cost more than the host allows (see [`crate::cost`]).
    TooCostly {
        resource: Resource,
        /// What the estimate is of, e.g. `AVIF encode of 49.0 MP`.
        what: String,
        estimate: u64,
        limit: u64,
    },
    /// `preset=` names no configured preset.
    UnknownPreset { name: String },
    /// An unsigned request asks for a width outside the configured allow-list.
    WidthNotAllowed { width: u32 },
    /// Signing is configured and the request is unsigned and not allowed unsigned.
    SignatureRequired,
    /// The request's signature does not match any configured key.
    BadSignature,
    /// A valid signature whose `expires` has passed.
    SignatureExpired { expires: u64 },
    /// Originals are not served untouched here.
    OriginalsOff,
    /// An encoder or an internal step failed.
    Internal {
        context: &'static str,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownOption { .. }
            | Error::DuplicateOption { .. }
            | Error::InvalidValue { .. }
            | Error::MalformedSpec { .. }
            | Error::OutputTooLarge { .. }
            | Error::OutputTooManyPixels { .. }
            | Error::NotApplicable { .. }
            | Error::BadKey { .. }
            | Error::TooCostly { .. }
            | Error::UnknownPreset { .. }
            | Error::WidthNotAllowed { .. } => ErrorKind::BadSpec,
            Error::SignatureRequired
            | Error::BadSignature
            | Error::SignatureExpired { .. }
            | Error::OriginalsOff => ErrorKind::Forbidden,
            Error::UnsupportedInput { .. } | Error::UnsupportedOutput { .. } => {
                ErrorKind::Unsupported
            }
            Error::Undecodable { .. } => ErrorKind::Undecodable,
            Error::InputTooLarge { .. }
            | Error::TooManyPixels { .. }
            | Error::AnimationTooLarge { .. } => ErrorKind::OverLimits,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// A stable machine-readable code. These strings are part of the public API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownOption { .. } => "unknown_option",
            Error::DuplicateOption { .. } => "duplicate_option",
            Error::InvalidValue { .. } => "invalid_value",
            Error::MalformedSpec { .. } => "malformed_spec",
            Error::OutputTooLarge { .. } | Error::OutputTooManyPixels { .. } => "output_too_large",
            Error::NotApplicable { .. } => "not_applicable",
            Error::UnsupportedInput { .. } => "unsupported_format",
            Error::UnsupportedOutput { .. } => "unsupported_output",
            Error::Undecodable { .. } => "undecodable_image",
            Error::InputTooLarge { .. } => "input_too_large",
            Error::TooManyPixels { .. } => "too_many_pixels",
            Error::AnimationTooLarge { .. } => "animation_too_large",
            Error::BadKey { .. } => "bad_key",
            Error::TooCostly { .. } => "too_costly",
            Error::UnknownPreset { .. } => "unknown_preset",
            Error::WidthNotAllowed { .. } => "width_not_allowed",
            Error::SignatureRequired => "signature_required",
            Error::BadSignature => "bad_signature",
            Error::SignatureExpired { .. } => "signature_expired",
            Error::OriginalsOff => "originals_disabled",
            Error::Internal { .. } => "internal",
        }
    }

    /// The option this error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::UnknownOption { key } => Some(key),
            Error::DuplicateOption { key }
            | Error::InvalidValue { key, .. }
            | Error::NotApplicable { key, .. } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn invalid(key: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Error::InvalidValue {
            key,
            value: truncate(value),
            reason: reason.into(),
        }
    }

    pub(crate) fn undecodable(
        format: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Undecodable {
            format,
            source: source.into(),
        }
    }

    pub(crate) fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal {
            context,
            source: Some(source.into()),
        }
    }
}

/// The JSON body every host answers an error with: `{"code": …, "message": …}`. One function, so
/// the origin server and the edge worker write byte-identical error bodies.
pub fn json_body(code: &str, message: &str) -> String {
    serde_json::json!({ "code": code, "message": message }).to_string()
}

/// Values echoed back in messages are cut short so an error never amplifies hostile input.
fn truncate(value: &str) -> String {
    const MAX: usize = 64;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownOption { key } => {
                write!(f, "unknown option `{}`", truncate(key))
            }
            Error::DuplicateOption { key } => write!(f, "option `{key}` is given more than once"),
            Error::InvalidValue { key, value, reason } => {
                write!(f, "invalid value `{value}` for option `{key}`: {reason}")
            }
            Error::MalformedSpec { part } => {
                write!(f, "malformed option `{part}`: expected key=value")
            }
            Error::OutputTooLarge {
                width,
                height,
                limit,
            } => write!(
                f,
                "requested output {width}x{height} exceeds the maximum dimension of {limit} pixels"
            ),
            Error::OutputTooManyPixels {
                width,
                height,
                limit,
            } => write!(
                f,
                "requested output {width}x{height} exceeds the maximum area of {limit} pixels"
            ),
            Error::BadKey { reason } => write!(f, "bad object key: {reason}"),
            Error::AnimationTooLarge {
                frames,
                pixels,
                max_frames,
                max_pixels,
            } => write!(
                f,
                "the animation has {frames} frames and {pixels} pixels over all frames, more \
                 than the limits of {max_frames} frames and {max_pixels} pixels; anim=false \
                 asks for its first frame"
            ),
            Error::TooCostly {
                resource: Resource::Cpu,
                what,
                estimate,
                limit,
            } => write!(
                f,
                "this transform ({what}) would take about {estimate} ms of CPU, more than the \
                 limit of {limit} ms: ask for a smaller output or a cheaper format"
            ),
            Error::TooCostly {
                resource: Resource::Memory,
                what,
                estimate,
                limit,
            } => write!(
                f,
                "this transform ({what}) would hold about {} MiB of memory, more than the \
                 limit of {} MiB: ask for a smaller output or use a smaller original",
                estimate.div_ceil(1 << 20),
                limit >> 20
            ),
            Error::UnknownPreset { name } => write!(f, "unknown preset `{}`", truncate(name)),
            Error::WidthNotAllowed { width } => write!(
                f,
                "width {width} is not in the list of widths allowed without a signature"
            ),
            Error::SignatureRequired => write!(
                f,
                "this URL needs a signature (`sig=`): only presets and allowed widths are served unsigned"
            ),
            Error::BadSignature => write!(f, "the URL's signature does not match"),
            Error::SignatureExpired { expires } => {
                write!(f, "the URL's signature expired (expires={expires})")
            }
            Error::OriginalsOff => write!(
                f,
                "originals are not served untouched here: ask for a transform"
            ),
            Error::NotApplicable { key, reason } => {
                write!(
                    f,
                    "option `{key}` cannot be applied to this image: {reason}"
                )
            }
            Error::UnsupportedInput { detected: Some(d) } => {
                write!(f, "input format {d} is not supported")
            }
            Error::UnsupportedInput { detected: None } => write!(
                f,
                "input is not a supported image (JPEG, PNG, GIF or WebP expected)"
            ),
            Error::UnsupportedOutput { format } => {
                write!(f, "output format {format} is not available in this build")
            }
            Error::Undecodable { format, source } => {
                write!(f, "cannot decode {format} image: {source}")
            }
            Error::InputTooLarge { bytes, limit } => {
                write!(f, "input is {bytes} bytes, the limit is {limit} bytes")
            }
            Error::TooManyPixels {
                width,
                height,
                limit,
            } => write!(
                f,
                "image is {width}x{height} pixels, more than the limit of {limit} pixels"
            ),
            Error::Internal {
                context,
                source: Some(s),
            } => write!(f, "internal error while {context}: {s}"),
            Error::Internal {
                context,
                source: None,
            } => write!(f, "internal error while {context}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Undecodable { source, .. } => Some(source.as_ref()),
            Error::Internal {
                source: Some(s), ..
            } => Some(s.as_ref()),
            _ => None,
        }
    }
}
