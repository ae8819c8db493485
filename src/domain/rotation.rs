//! Rotating the origin secret (pure): the secret's value, a new value, the steps of Secrets Manager's rotation
//! protocol, and what each origin-side check holds while both values are accepted and after.
//!
//! At every moment, every value an edge may send is one its origin accepts: `setSecret` makes every check accept
//! the current value and the pending one before any distribution sends the pending one; `finishSecret` drops the
//! old value only once every distribution sends the new one and has deployed it.

use std::fmt;
use std::str::FromStr;

use crate::domain::origin_side::Secret;

/// The tag a distribution carries to take part in a rotation: its value is the secret's name or ARN.
pub const ORIGIN_SECRET_TAG: &str = "cloudfront-sg-sync:origin-secret";

/// The fewest characters of a value this tool generates.
pub const VALUE_CHARS: usize = 40;

/// The characters of a generated value: valid in a header, and neither `*` nor `?` (an ALB condition's
/// wildcards).
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Why a secret or a rotation request cannot be used. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// The secret's value is not `{"header": "…", "value": "…"}`.
    #[error("the secret's value is not a JSON object {{\"header\": \"X-Origin-Verify\", \"value\": \"…\"}}: {0}")]
    Malformed(String),
    /// Secrets Manager asked for a step this function does not know.
    #[error("unknown rotation step {0:?}: expected createSecret, setSecret, testSecret or finishSecret")]
    UnknownStep(String),
}

/// The secret: the header CloudFront sends to the origin, and its value.
#[derive(Clone, PartialEq, Eq)]
pub struct OriginSecret {
    /// The header's name (`X-Origin-Verify`).
    pub header: String,
    /// Its value.
    pub value: Secret,
}

impl fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginSecret")
            .field("header", &self.header)
            .field("value", &self.value)
            .finish()
    }
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Stored<'a> {
    header: std::borrow::Cow<'a, str>,
    value: std::borrow::Cow<'a, str>,
}

impl OriginSecret {
    /// Read a secret's value as Secrets Manager stores it.
    pub fn parse(text: &str) -> Result<OriginSecret, RotationError> {
        let stored: Stored<'_> = serde_json::from_str(text).map_err(|e| {
            // serde's message may quote the input: say only where it failed.
            RotationError::Malformed(format!("at line {} column {}", e.line(), e.column()))
        })?;
        let header = stored.header.trim();
        if header.is_empty()
            || !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(RotationError::Malformed("the header is not a header name".to_owned()));
        }
        if stored.value.is_empty() {
            return Err(RotationError::Malformed("the value is empty".to_owned()));
        }
        Ok(OriginSecret {
            header: header.to_owned(),
            value: Secret::new(stored.value.into_owned()),
        })
    }

    /// The value Secrets Manager stores.
    pub fn to_stored(&self) -> String {
        let stored = Stored {
            header: self.header.as_str().into(),
            value: self.value.reveal().into(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The same header with `value`.
    pub fn with_value(&self, value: Secret) -> OriginSecret {
        OriginSecret {
            header: self.header.clone(),
            value,
        }
    }
}

/// A new value from `random` bytes of a CSPRNG: [`VALUE_CHARS`] letters and digits (each byte below 248 gives one
/// character, so every character is equally likely); `None` when the bytes run out first (ask for more).
pub fn value_from(random: &[u8]) -> Option<Secret> {
    let chars: String = (random.iter())
        .filter(|b| **b < 248)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .take(VALUE_CHARS)
        .collect();
    (chars.len() == VALUE_CHARS).then(|| Secret::new(chars))
}

/// A step of Secrets Manager's rotation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Make the pending version hold a new value.
    Create,
    /// Make every origin accept both values, then every distribution send the pending one.
    Set,
    /// Check every distribution sends the pending value and has deployed it.
    Test,
    /// Make the pending version current, then every origin accept only it.
    Finish,
}

impl FromStr for Step {
    type Err = RotationError;

    fn from_str(step: &str) -> Result<Step, RotationError> {
        match step {
            "createSecret" => Ok(Step::Create),
            "setSecret" => Ok(Step::Set),
            "testSecret" => Ok(Step::Test),
            "finishSecret" => Ok(Step::Finish),
            other => Err(RotationError::UnknownStep(other.to_owned())),
        }
    }
}

impl Step {
    /// As Secrets Manager names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

/// The values an ALB condition on the header holds once it accepts `pending` beside `current`: `None` when it
/// needs no change (it already does, or it is not a check of `current`: it holds neither value).
pub fn accept_both(values: &[Secret], current: &Secret, pending: &Secret) -> Option<Vec<Secret>> {
    let holds = |v: &Secret| values.iter().any(|held| held.equals(v));
    if !holds(current) || holds(pending) {
        return None;
    }
    Some(values.iter().cloned().chain([pending.clone()]).collect())
}

/// The values an ALB condition holds once it no longer accepts `previous`, now that `current` is sent
/// everywhere: `None` when it needs no change (it does not hold `previous`, or does not hold `current` beside it:
/// not a check this rotation widened).
pub fn accept_only(values: &[Secret], previous: &Secret, current: &Secret) -> Option<Vec<Secret>> {
    let holds = |v: &Secret| values.iter().any(|held| held.equals(v));
    if !holds(previous) || !holds(current) {
        return None;
    }
    Some(values.iter().filter(|v| !v.equals(previous)).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Secret {
        Secret::new(v)
    }

    #[test]
    fn a_secret_reads_its_header_and_value_and_a_malformed_one_is_refused_without_its_value() {
        let read = OriginSecret::parse(r#"{"header": "X-Origin-Verify", "value": "abcdefghijklmnopqrstuvwxyz012345"}"#)
            .unwrap();
        assert_eq!(read.header, "X-Origin-Verify");
        assert!(read.value.equals(&s("abcdefghijklmnopqrstuvwxyz012345")));
        assert_eq!(
            OriginSecret::parse(&read.to_stored()).unwrap(),
            read,
            "stored as it is read"
        );
        for bad in [
            r#"{"header": "X-Origin-Verify"}"#,
            r#"{"header": "X Origin", "value": "sekrit-value-of-some-length"}"#,
            r#"{"header": "X-Origin-Verify", "value": ""}"#,
            r#"sekrit-value-of-some-length"#,
        ] {
            let error = OriginSecret::parse(bad).unwrap_err().to_string();
            assert!(!error.contains("sekrit"), "{error}");
            assert!(error.starts_with("the secret's value is not a JSON object"), "{error}");
        }
        assert!(!format!("{read:?}").contains("abcdefghij"));
    }

    #[test]
    fn a_new_value_is_forty_letters_and_digits_drawn_evenly_from_the_random_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let value = value_from(&bytes).unwrap();
        let text = value.reveal();
        assert_eq!(text.len(), VALUE_CHARS);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()), "no wildcard, no space");
        assert_eq!(&text[..5], "ABCDE");
        assert_eq!(value_from(&[250; 100]), None, "bytes of 248 and up are skipped");
        assert_eq!(value_from(&[1; 39]), None, "too few bytes");
    }

    #[test]
    fn the_four_steps_are_read_by_their_names_and_anything_else_is_refused_naming_it() {
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            assert_eq!(step.as_str().parse::<Step>(), Ok(step));
        }
        assert_eq!(
            "deleteSecret".parse::<Step>().unwrap_err().to_string(),
            "unknown rotation step \"deleteSecret\": expected createSecret, setSecret, testSecret or finishSecret"
        );
    }

    #[test]
    fn a_check_of_the_current_value_accepts_both_then_only_the_new_one() {
        let (old, new, other) = (s("old-value"), s("new-value"), s("other"));
        let both = accept_both(std::slice::from_ref(&old), &old, &new).unwrap();
        assert!(both.len() == 2 && both[0].equals(&old) && both[1].equals(&new));
        assert_eq!(accept_both(&both, &old, &new), None, "again: nothing to do");
        assert_eq!(
            accept_both(std::slice::from_ref(&other), &old, &new),
            None,
            "not a check of this secret"
        );
        let only = accept_only(&both, &old, &new).unwrap();
        assert!(only.len() == 1 && only[0].equals(&new));
        assert_eq!(accept_only(&only, &old, &new), None, "again: nothing to do");
        assert_eq!(
            accept_only(std::slice::from_ref(&old), &old, &new),
            None,
            "never widened: left as it is"
        );
    }
}
