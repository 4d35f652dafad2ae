//! The types a declared parameter can have and the rules its values must follow: how a
//! `ParameterValue` becomes a field of [`Params`](super::Params) (type check, then
//! range check) and back.

use super::error::{value_err, ParamError};
use ros2_client::ParameterValue;

/// What values a parameter accepts beyond its type, with the error message for others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Rule {
    /// Any value of the type.
    Any,
    /// An integer in `lo..=hi`.
    Range(i64, i64),
    /// An integer that is not negative.
    NotNegative,
    /// A finite number above 0.
    Positive,
    /// A finite number, 0 or above; `zero` says what 0 means.
    AtLeastZero {
        /// The meaning of 0, for the error message and the help text.
        zero: &'static str,
    },
    /// A frame id: a leading `/` is dropped, and it must not be empty.
    FrameId,
    /// A frame id as [`Rule::FrameId`], or empty: `empty` says what empty means.
    FrameIdOrEmpty {
        /// The meaning of an empty value, for the help text.
        empty: &'static str,
    },
}

impl Rule {
    /// The accepted values, for the help text.
    pub(crate) fn describe(&self) -> String {
        match self {
            Rule::Any => String::new(),
            Rule::Range(lo, hi) => format!("{lo}..={hi}"),
            Rule::NotNegative => ">= 0".into(),
            Rule::Positive => "> 0".into(),
            Rule::AtLeastZero { zero } => format!(">= 0, 0: {zero}"),
            Rule::FrameId => "not empty, a leading / is dropped".into(),
            Rule::FrameIdOrEmpty { empty } => format!("a leading / is dropped; empty: {empty}"),
        }
    }

    fn int(&self, name: &str, i: i64) -> Result<i64, ParamError> {
        match *self {
            Rule::Any => Ok(i),
            Rule::Range(lo, hi) if (lo..=hi).contains(&i) => Ok(i),
            Rule::Range(lo, hi) => Err(value_err(name, format!("must be in {lo}..={hi}, got {i}"))),
            Rule::NotNegative if i >= 0 => Ok(i),
            Rule::NotNegative => Err(value_err(name, "must not be negative")),
            _ => Err(self.misplaced(name, "integer")),
        }
    }

    fn double(&self, name: &str, x: f64) -> Result<f64, ParamError> {
        match *self {
            Rule::Any => Ok(x),
            Rule::Positive if x.is_finite() && x > 0.0 => Ok(x),
            Rule::Positive => Err(value_err(
                name,
                format!("must be a positive number, got {x}"),
            )),
            Rule::AtLeastZero { .. } if x.is_finite() && x >= 0.0 => Ok(x),
            Rule::AtLeastZero { zero } => Err(value_err(name, format!("must be >= 0 (0: {zero})"))),
            _ => Err(self.misplaced(name, "double")),
        }
    }

    fn string(&self, name: &str, s: String) -> Result<String, ParamError> {
        match *self {
            Rule::Any => Ok(s),
            Rule::FrameId => {
                let f = s.trim_start_matches('/').to_string();
                if f.is_empty() {
                    return Err(value_err(name, "must not be empty"));
                }
                Ok(f)
            }
            Rule::FrameIdOrEmpty { .. } => Ok(s.trim_start_matches('/').to_string()),
            _ => Err(self.misplaced(name, "string")),
        }
    }

    fn boolean(&self, name: &str, b: bool) -> Result<bool, ParamError> {
        match *self {
            Rule::Any => Ok(b),
            _ => Err(self.misplaced(name, "bool")),
        }
    }

    /// A rule declared for a type it does not apply to (a mistake in the table; the
    /// unit tests set every default, so they find it).
    fn misplaced(&self, name: &str, kind: &str) -> ParamError {
        value_err(name, format!("rule {self:?} does not apply to a {kind}"))
    }
}

/// A Rust type a declared parameter can have.
pub(crate) trait ParamType: Sized {
    /// The ROS type, for the help text: `string`, `integer`, `double` or `bool`.
    const KIND: &'static str;
    /// How the default is written in the table (`&str` for strings).
    type Literal;
    /// The default, from the table.
    fn from_literal(l: Self::Literal) -> Self;
    /// Checks the type, then the rule; the error names the parameter.
    fn from_value(name: &str, v: &ParameterValue, rule: &Rule) -> Result<Self, ParamError>;
    /// The value as ROS sees it.
    fn to_value(&self) -> ParameterValue;
}

fn type_err(name: &str, want: &str, got: &ParameterValue) -> ParamError {
    value_err(name, format!("expected {want}, got {got:?}"))
}

fn as_int(name: &str, v: &ParameterValue) -> Result<i64, ParamError> {
    match v {
        ParameterValue::Integer(i) => Ok(*i),
        _ => Err(type_err(name, "an integer", v)),
    }
}

impl ParamType for String {
    const KIND: &'static str = "string";
    type Literal = &'static str;
    fn from_literal(l: &'static str) -> Self {
        l.to_string()
    }
    fn from_value(name: &str, v: &ParameterValue, rule: &Rule) -> Result<Self, ParamError> {
        match v {
            ParameterValue::String(s) => rule.string(name, s.clone()),
            _ => Err(type_err(name, "a string", v)),
        }
    }
    fn to_value(&self) -> ParameterValue {
        ParameterValue::String(self.clone())
    }
}

impl ParamType for f64 {
    const KIND: &'static str = "double";
    type Literal = f64;
    fn from_literal(l: f64) -> Self {
        l
    }
    /// Integers are accepted too (`-p rate_hz:=5`).
    fn from_value(name: &str, v: &ParameterValue, rule: &Rule) -> Result<Self, ParamError> {
        match v {
            ParameterValue::Double(d) => rule.double(name, *d),
            ParameterValue::Integer(i) => rule.double(name, *i as f64),
            _ => Err(type_err(name, "a number", v)),
        }
    }
    fn to_value(&self) -> ParameterValue {
        ParameterValue::Double(*self)
    }
}

impl ParamType for bool {
    const KIND: &'static str = "bool";
    type Literal = bool;
    fn from_literal(l: bool) -> Self {
        l
    }
    fn from_value(name: &str, v: &ParameterValue, rule: &Rule) -> Result<Self, ParamError> {
        match v {
            ParameterValue::Boolean(b) => rule.boolean(name, *b),
            _ => Err(type_err(name, "true or false", v)),
        }
    }
    fn to_value(&self) -> ParameterValue {
        ParameterValue::Boolean(*self)
    }
}

/// Unsigned integer fields: ROS integers (i64) that the rule keeps in range (give
/// these a [`Rule::Range`] with `lo >= 0` or [`Rule::NotNegative`]).
macro_rules! unsigned_param {
    ($($t:ty),*) => {$(
        impl ParamType for $t {
            const KIND: &'static str = "integer";
            type Literal = $t;
            fn from_literal(l: $t) -> Self {
                l
            }
            fn from_value(name: &str, v: &ParameterValue, rule: &Rule) -> Result<Self, ParamError> {
                let i = rule.int(name, as_int(name, v)?)?;
                <$t>::try_from(i).map_err(|_| value_err(name, "must not be negative"))
            }
            fn to_value(&self) -> ParameterValue {
                ParameterValue::Integer(*self as i64)
            }
        }
    )*};
}
unsigned_param!(usize, u64);
