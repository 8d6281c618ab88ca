//! Authentication: password hashing, opaque bearer tokens, the request extractor and
//! login rate limiting.

pub mod extractor;
pub mod password;
pub mod ratelimit;
pub mod token;
pub mod weak_passwords;

pub use extractor::{AuthUser, AuthUserOrQueryToken, ClientAddr, token_still_valid};
pub use token::{IssuedToken, TokenKind};
