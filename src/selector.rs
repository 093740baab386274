//! Label selectors (`-l`), parsed once, as the API server parses and matches them: so that a dump,
//! or a watch frame that filters locally, selects exactly the stages a server-side LIST does.
//! Grammar and semantics of k8s.io/apimachinery pkg/labels/selector.go (`Parse`, `Lexer`,
//! `Requirement.Matches`): comma-separated requirements, each `key`, `!key`, `key=value`,
//! `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`, `key>N` or `key<N`.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed label selector; prints as the text it was parsed from (what a LIST sends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector {
    text: String,
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Operator {
    Exists,
    DoesNotExist,
    /// `=`, `==` and `in`: the label is one of these.
    In(Vec<String>),
    /// `!=` and `notin`: the label is missing or none of these.
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

/// Why a selector does not parse, as the API server would refuse it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {text:?}: {why}")]
pub struct SelectorError {
    text: String,
    why: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Identifier(String),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    Greater,
    Less,
}

/// The lexer of apimachinery's selector.go: whitespace separates, `!=()<>,` and `=`/`==` are
/// tokens of their own, `in` and `notin` are keywords, anything else runs into an identifier.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '!' if next == Some('=') => (Token::NotEquals, 2),
            '!' => (Token::Not, 1),
            '=' if next == Some('=') => (Token::DoubleEquals, 2),
            '=' => (Token::Equals, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            ',' => (Token::Comma, 1),
            '>' => (Token::Greater, 1),
            '<' => (Token::Less, 1),
            _ => {
                let word: String =
                    chars[i..].iter().take_while(|c| !c.is_whitespace() && !"!=(),<>".contains(**c)).collect();
                let len = word.chars().count();
                let token = match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Identifier(word),
                };
                (token, len)
            }
        };
        out.push(token);
        i += len;
    }
    out
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fail = |why: String| SelectorError { text: text.to_string(), why };
        let tokens = tokens(text);
        let mut at = 0;
        let mut requirements = Vec::new();
        while at < tokens.len() {
            let (requirement, next) = requirement(&tokens, at).map_err(fail)?;
            requirements.push(requirement);
            at = next;
            match tokens.get(at) {
                None => {}
                Some(Token::Comma) if at + 1 < tokens.len() => at += 1,
                Some(other) => return Err(fail(format!("found {other:?}, expected ','"))),
            }
        }
        Ok(LabelSelector { text: text.to_string(), requirements })
    }

    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        let labels = labels.unwrap_or(&empty);
        self.requirements.iter().all(|r| {
            let value = labels.get(&r.key);
            match &r.operator {
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
                Operator::In(values) => value.is_some_and(|v| values.contains(v)),
                Operator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
                Operator::GreaterThan(n) => value.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v > *n),
                Operator::LessThan(n) => value.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v < *n),
            }
        })
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One requirement from `tokens[at..]`, and where the next starts.
fn requirement(tokens: &[Token], at: usize) -> Result<(Requirement, usize), String> {
    let identifier = |at: usize, what: &str| match tokens.get(at) {
        Some(Token::Identifier(word)) => Ok(word.clone()),
        other => Err(format!("found {other:?}, expected {what}")),
    };
    if tokens.get(at) == Some(&Token::Not) {
        let key = identifier(at + 1, "a key")?;
        valid_key(&key)?;
        return Ok((Requirement { key, operator: Operator::DoesNotExist }, at + 2));
    }
    let key = identifier(at, "a key")?;
    valid_key(&key)?;
    let single = |at: usize| -> Result<(String, usize), String> {
        match tokens.get(at) {
            Some(Token::Identifier(word)) => Ok((word.clone(), at + 1)),
            // `key=` selects the empty value.
            None | Some(Token::Comma) => Ok((String::new(), at)),
            other => Err(format!("found {other:?}, expected a value")),
        }
    };
    let number = |value: String| value.parse::<i64>().map_err(|_| format!("{value:?} is not an integer"));
    let (operator, next) = match tokens.get(at + 1) {
        None | Some(Token::Comma) => (Operator::Exists, at + 1),
        Some(Token::Equals | Token::DoubleEquals) => {
            let (value, next) = single(at + 2)?;
            (Operator::In(vec![valid_value(value)?]), next)
        }
        Some(Token::NotEquals) => {
            let (value, next) = single(at + 2)?;
            (Operator::NotIn(vec![valid_value(value)?]), next)
        }
        Some(Token::Greater) => {
            let (value, next) = single(at + 2)?;
            (Operator::GreaterThan(number(value)?), next)
        }
        Some(Token::Less) => {
            let (value, next) = single(at + 2)?;
            (Operator::LessThan(number(value)?), next)
        }
        Some(op @ (Token::In | Token::NotIn)) => {
            let (values, next) = set(tokens, at + 2)?;
            if values.is_empty() {
                return Err("for 'in', 'notin' operators, values set can't be empty".into());
            }
            (if *op == Token::In { Operator::In(values) } else { Operator::NotIn(values) }, next)
        }
        Some(other) => return Err(format!("found {other:?}, expected an operator")),
    };
    Ok((Requirement { key, operator }, next))
}

/// `(v1, v2)` from `tokens[at..]` (an item may be empty, as in `(a,)`), and where it ends.
fn set(tokens: &[Token], at: usize) -> Result<(Vec<String>, usize), String> {
    if tokens.get(at) != Some(&Token::Open) {
        return Err(format!("found {:?}, expected '('", tokens.get(at)));
    }
    let mut values = Vec::new();
    let mut at = at + 1;
    let mut expect_value = true;
    loop {
        match tokens.get(at) {
            Some(Token::Identifier(word)) if expect_value => {
                values.push(valid_value(word.clone())?);
                expect_value = false;
            }
            Some(Token::Comma) => {
                if expect_value {
                    values.push(String::new());
                }
                expect_value = true;
            }
            Some(Token::Close) => {
                if expect_value && !values.is_empty() {
                    values.push(String::new());
                }
                return Ok((values, at + 1));
            }
            other => return Err(format!("found {other:?} in a set of values")),
        }
        at += 1;
    }
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name (apimachinery validation
/// `IsQualifiedName`).
fn valid_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    if prefix_ok && !name.is_empty() && name_like(name) {
        Ok(())
    } else {
        Err(format!("{key:?} is not a valid label key"))
    }
}

/// A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`, starting and ending with an
/// alphanumeric (apimachinery validation `IsValidLabelValue`).
fn valid_value(value: String) -> Result<String, String> {
    if value.is_empty() || name_like(&value) { Ok(value) } else { Err(format!("{value:?} is not a valid label value")) }
}

fn name_like(s: &str) -> bool {
    s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        LabelSelector::parse(selector).unwrap().matches(Some(&labels(pairs)))
    }

    #[test]
    fn equality_and_existence_as_before() {
        assert!(selects("app=shop,tier!=infra", &[("app", "shop")]));
        assert!(selects("app==shop", &[("app", "shop")]));
        assert!(!selects("app=shop", &[("app", "web")]));
        assert!(selects("app", &[("app", "")]));
        assert!(selects("!app", &[]));
        assert!(!selects("!app", &[("app", "x")]));
        assert!(selects("app=", &[("app", "")]));
        assert!(selects("", &[]));
    }

    #[test]
    fn set_based_requirements_as_the_api_server_matches_them() {
        assert!(selects("tier in (a,b)", &[("tier", "b")]));
        assert!(selects("tier in (a, b),app", &[("tier", "a"), ("app", "x")]));
        assert!(!selects("tier in (a,b)", &[]));
        // notin, like !=, selects objects without the label.
        assert!(selects("tier notin (a,b)", &[]));
        assert!(!selects("tier notin (a,b)", &[("tier", "a")]));
        assert!(selects("tier!=a", &[]));
        assert!(selects("example.com/tier in (a)", &[("example.com/tier", "a")]));
        assert!(selects("rank>3", &[("rank", "4")]));
        assert!(!selects("rank>3", &[("rank", "x")]));
        assert!(selects("rank<3", &[("rank", "-1")]));
    }

    #[test]
    fn what_the_api_server_refuses_is_an_error_naming_the_selector() {
        for bad in ["tier in ()", "tier in a", "=a", "a=b=c", "a,,b", "a,", "a b", "tier in (a", "rank>x", "-a=b"] {
            let err = LabelSelector::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with(&format!("invalid label selector {bad:?}: ")), "{err}");
        }
        assert_eq!(LabelSelector::parse("tier in (a,b)").unwrap().to_string(), "tier in (a,b)");
    }
}
