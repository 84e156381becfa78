//! Reading one destination token: a literal, a `$N` placeholder or a
//! `{{function(args)}}` (nats-server's `indexPlaceHolders`).
//!
//! Owns the recognition rules and their error kinds, with nats-server's
//! quirks kept on purpose: only the first letter of each word of a function
//! name is case-insensitive (`Wildcard`, `wildcard`, `splitFromLeft` work,
//! `WILDCARD` is an unknown function); whitespace is tolerated after `{{`,
//! around the name's `(`…`)` and before `}}`, after each comma, and spaces
//! (not tabs) around numbers; `split`'s delimiter is taken verbatim
//! (`split(1,"-")` splits on the three characters `"-"`); a `$` token whose
//! rest is not a number (`$x`) is a literal. Never applies a transform.

use std::sync::LazyLock;

use regex::Regex;

use super::DestErrorKind;

/// What one destination token does (before wildcard indexes are resolved
/// against the source).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Placeholder {
    /// Copied as is (also `>` and `{{}}`).
    Literal,
    /// `$N` / `{{wildcard(N)}}`: the N-th `*` of the source (N as written).
    Wildcard(i64),
    /// `{{partition(n, i, j…)}}`; no indexes: the whole subject.
    Partition(i64, Vec<i64>),
    SplitFromLeft(i64, i32),
    SplitFromRight(i64, i32),
    SliceFromLeft(i64, i32),
    SliceFromRight(i64, i32),
    Left(i64, i32),
    Right(i64, i32),
    /// `{{split(i, delim)}}`.
    Split(i64, String),
    /// `{{random(n)}}`.
    Random(i64),
}

/// The function names, in the order nats-server tries them (the patterns are
/// not anchored, so the order is part of the behaviour).
#[derive(Debug, Clone, Copy)]
enum Func {
    Wildcard,
    Partition,
    SplitFromLeft,
    SplitFromRight,
    SliceFromLeft,
    SliceFromRight,
    Right,
    Left,
    Split,
    Random,
}

/// `{{\s*name\s*\((.*)\)\s*}}` for each function, `\s` being ASCII space.
static FUNCTIONS: LazyLock<Vec<(Regex, Func)>> = LazyLock::new(|| {
    [
        ("[wW]ildcard", Func::Wildcard),
        ("[pP]artition", Func::Partition),
        ("[sS]plit[fF]rom[lL]eft", Func::SplitFromLeft),
        ("[sS]plit[fF]rom[rR]ight", Func::SplitFromRight),
        ("[sS]lice[fF]rom[lL]eft", Func::SliceFromLeft),
        ("[sS]lice[fF]rom[rR]ight", Func::SliceFromRight),
        ("[rR]ight", Func::Right),
        ("[lL]eft", Func::Left),
        ("[sS]plit", Func::Split),
        ("[rR]andom", Func::Random),
    ]
    .into_iter()
    .map(|(name, f)| {
        let pattern = format!(r"\{{\{{(?-u:\s)*{name}(?-u:\s)*\((.*)\)(?-u:\s)*\}}\}}");
        (Regex::new(&pattern).expect("function pattern"), f)
    })
    .collect()
});

/// The argument separator: a comma and any whitespace after it.
static COMMA: LazyLock<Regex> = LazyLock::new(|| Regex::new(r",(?-u:\s)*").expect("comma"));

/// Does `token` have the `{{…}}` shape of a function call (more than the
/// four braces)?
pub(super) fn looks_like_function(token: &str) -> bool {
    token.len() > 4 && token.starts_with("{{") && token.ends_with("}}")
}

/// Is `token` a call of a known function (any arguments)?
pub(super) fn is_known_function(token: &str) -> bool {
    FUNCTIONS.iter().any(|(re, _)| re.is_match(token))
}

/// The arguments of `token` for the wildcard function, when it is one
/// (`untokenize` needs exactly that test).
pub(super) fn wildcard_args(token: &str) -> Option<Vec<&str>> {
    call_args(&FUNCTIONS[0].0, token)
}

fn call_args<'t>(re: &Regex, token: &'t str) -> Option<Vec<&'t str>> {
    let inner = re.captures(token)?.get(1)?.as_str();
    Some(COMMA.split(inner).collect())
}

/// Go's `strconv.Atoi` after trimming spaces: an optional sign and decimal
/// digits.
fn int(arg: &str) -> Result<i64, DestErrorKind> {
    arg.trim_matches(' ')
        .parse::<i64>()
        .map_err(|_| DestErrorKind::InvalidArg)
}

/// A function's count argument (`partition`, `random`): at most `i32::MAX`.
fn count(arg: &str) -> Result<i64, DestErrorKind> {
    match int(arg)? {
        n if n > i64::from(i32::MAX) => Err(DestErrorKind::InvalidArg),
        n => Ok(n),
    }
}

/// The two arguments of the (wildcard index, int32) functions.
fn index_and_int(args: &[&str]) -> Result<(i64, i32), DestErrorKind> {
    match args.len() {
        0 | 1 => return Err(DestErrorKind::NotEnoughArgs),
        2 => {}
        _ => return Err(DestErrorKind::TooManyArgs),
    }
    let index = int(args[0])?;
    let n = args[1]
        .trim_matches(' ')
        .parse::<i32>()
        .map_err(|_| DestErrorKind::InvalidArg)?;
    Ok((index, n))
}

/// Reads one destination token. An error carries the kind only; the caller
/// adds the token to the message.
pub(super) fn placeholder(token: &str) -> Result<Placeholder, DestErrorKind> {
    if token.len() <= 1 {
        return Ok(Placeholder::Literal);
    }
    if let Some(rest) = token.strip_prefix('$') {
        // Other things rely on `$` tokens: not a number means a literal.
        return Ok(match rest.parse::<i64>() {
            Ok(n) => Placeholder::Wildcard(n),
            Err(_) => Placeholder::Literal,
        });
    }
    if !looks_like_function(token) {
        return Ok(Placeholder::Literal);
    }
    for (re, func) in FUNCTIONS.iter() {
        if let Some(args) = call_args(re, token) {
            return call(*func, &args);
        }
    }
    Err(DestErrorKind::UnknownFunction)
}

fn call(func: Func, args: &[&str]) -> Result<Placeholder, DestErrorKind> {
    use DestErrorKind::*;
    Ok(match func {
        Func::Wildcard => match args {
            [""] => return Err(NotEnoughArgs),
            [one] => Placeholder::Wildcard(int(one)?),
            _ => return Err(TooManyArgs),
        },
        Func::Partition => {
            let n = count(args[0])?;
            let indexes = args[1..].iter().map(|a| int(a)).collect::<Result<_, _>>()?;
            Placeholder::Partition(n, indexes)
        }
        Func::SplitFromLeft => {
            let (i, n) = index_and_int(args)?;
            Placeholder::SplitFromLeft(i, n)
        }
        Func::SplitFromRight => {
            let (i, n) = index_and_int(args)?;
            Placeholder::SplitFromRight(i, n)
        }
        Func::SliceFromLeft => {
            let (i, n) = index_and_int(args)?;
            Placeholder::SliceFromLeft(i, n)
        }
        Func::SliceFromRight => {
            let (i, n) = index_and_int(args)?;
            Placeholder::SliceFromRight(i, n)
        }
        Func::Right => {
            let (i, n) = index_and_int(args)?;
            Placeholder::Right(i, n)
        }
        Func::Left => {
            let (i, n) = index_and_int(args)?;
            Placeholder::Left(i, n)
        }
        Func::Split => match args {
            [] | [_] => return Err(NotEnoughArgs),
            [index, delim] => {
                let index = int(index)?;
                if delim.contains(' ') || delim.contains('.') {
                    return Err(InvalidArg);
                }
                Placeholder::Split(index, (*delim).to_string())
            }
            _ => return Err(TooManyArgs),
        },
        Func::Random => match args {
            [one] => Placeholder::Random(count(one)?),
            _ => return Err(NotEnoughArgs),
        },
    })
}
