//! Which passwords of acceptable length are still too easy to guess: the ones at the top of
//! every breach list, a common word with digits or symbols around it, short patterns
//! repeated, and runs along the alphabet, the digits or a keyboard row (NIST SP 800-63B
//! 3.1.1.2 asks to refuse "commonly-used, expected, or compromised" values).

/// Passwords of 10 or more characters that lead breach-derived lists (lower case; the
/// shorter ones are already refused by the length rule).
const COMMON: &[&str] = &[
    "1234567890",
    "0987654321",
    "1234512345",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "1qazxsw23edc",
    "zaq12wsxcde3",
    "zaq1zaq1zaq1",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "asdfghjkl1",
    "asdfghjkl;",
    "zxcvbnm123",
    "1234qwerasdf",
    "123456789a",
    "123456789q",
    "a123456789",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "p@ssw0rd123",
    "iloveyou12",
    "iloveyou123",
    "administrator",
    "letmein123",
    "welcome123",
    "welcome1234",
    "football123",
    "baseball123",
    "princess123",
    "sunshine123",
    "superman123",
    "starwars123",
    "trustno1234",
    "changeme123",
    "myspace123",
    "computer123",
    "michael123",
    "jennifer123",
    "liverpool1",
    "chocolate1",
    "basketball",
    "basketball1",
    "football1",
    "princess12",
    "sunshine12",
    "1q2w3e4r5t6y",
    "q1w2e3r4t5",
    "q1w2e3r4t5y6",
    "abcd123456",
    "abc1234567",
    "qazwsxedc123",
    "qazwsxedcrfv",
];

/// Words that, with only digits or symbols added around them, make a guessable
/// password (`Password2024!`, `!!welcome!!`).
const COMMON_WORDS: &[&str] = &[
    "password",
    "passw",
    "passwd",
    "pass",
    "qwerty",
    "letmein",
    "welcome",
    "iloveyou",
    "admin",
    "administrator",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "master",
    "shadow",
    "superman",
    "trustno",
    "changeme",
    "secret",
    "login",
    "abc",
    "qwertz",
    "azerty",
    "asdf",
    "zxcv",
    "test",
    "guest",
    "user",
    "hello",
];

/// Keyboard rows and columns, whose runs (either direction) are as guessable as `abcdef`.
const KEYBOARD_RUNS: &[&str] = &[
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "azertyuiop",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "`1234567890-=",
    "~!@#$%^&*()_+",
];

/// Why `raw` is too easy to guess, as a rule to show the user; `None` when it is not.
pub fn weakness(raw: &str) -> Option<&'static str> {
    let lower = raw.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    if COMMON.contains(&lower.as_str()) {
        return Some("must not be a commonly used password");
    }
    let word = lower.trim_matches(|c: char| !c.is_alphabetic());
    let padding_only = lower.chars().filter(|c| c.is_alphabetic()).eq(word.chars());
    if padding_only && COMMON_WORDS.contains(&word) {
        return Some("must not be a common word with only digits or symbols added");
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 || repeats_a_short_pattern(&chars) {
        return Some("must not repeat a short pattern or use fewer than 4 different characters");
    }
    if is_run(&chars) || is_keyboard_run(&lower) {
        return Some("must not be a sequence such as abcdefghij, 1234567890 or qwertyuiop");
    }
    None
}

/// The whole string is a unit of at most a third of its length repeated (`abcabcabc`,
/// `1212121212`, the last repetition may be cut short).
fn repeats_a_short_pattern(chars: &[char]) -> bool {
    (1..=chars.len() / 3).any(|unit| chars.iter().enumerate().all(|(i, c)| *c == chars[i % unit]))
}

/// Every character is the previous one plus one, or minus one (`abcdefghij`,
/// `9876543210`).
fn is_run(chars: &[char]) -> bool {
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])))
        .collect();
    !steps.is_empty() && (steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1))
}

/// The string lies along one keyboard row or column, forwards or backwards.
fn is_keyboard_run(lower: &str) -> bool {
    let reversed: String = lower.chars().rev().collect();
    KEYBOARD_RUNS
        .iter()
        .any(|row| row.contains(lower) || row.contains(reversed.as_str()))
}

#[cfg(test)]
mod tests {
    use super::weakness;

    #[test]
    fn guessable_passwords_are_named() {
        for weak in [
            "aaaaaaaaaa",
            "AAAAAAAAAAAA",
            "abcabcabcabc",
            "1212121212",
            "ababababab",
            "aabbaabbaabb",
            "1234567890",
            "abcdefghij",
            "9876543210",
            "qwertyuiop",
            "poiuytrewq",
            "Password123",
            "password2024!",
            "!!welcome!!2",
            "P@ssw0rd123",
            "iloveyou12",
            "Administrator",
            "1q2w3e4r5t",
        ] {
            assert!(weakness(weak).is_some(), "{weak} was accepted");
        }
    }

    #[test]
    fn ordinary_passphrases_pass() {
        for fine in [
            "correct horse battery staple",
            "paindiary-demo-2026",
            "load-test-password",
            "long enough pw",
            "Tr0ub4dor&3x",
            "my cat is called Bruno",
            "ünïcödé pässwörd",
        ] {
            assert_eq!(weakness(fine), None, "{fine}");
        }
    }
}
