//! XML-RPC as Koji speaks it (formats.md §1.1): `nil` in both directions,
//! integers past 32 bits as `<i8>`, keyword arguments as a trailing struct
//! flagged with `__starstar`, datetimes as plain strings.
//!
//! Both directions of both messages are here: the client writes calls and reads
//! responses, the test hub reads calls and writes responses. The reader walks
//! quick-xml's event stream directly into [`Value`]s, with no intermediate tree,
//! because a `listTaggedRPMS` answer for a large tag is tens of megabytes.

use std::collections::VecDeque;
use std::fmt::Write as _;

use base64::Engine as _;
use quick_xml::Reader;
use quick_xml::events::Event;

/// Name of the struct member that marks a trailing struct as keyword arguments.
pub const STARSTAR: &str = "__starstar";

/// One XML-RPC value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    Array(Vec<Value>),
    /// Members in the order they were written; names are not deduplicated.
    Struct(Vec<(String, Value)>),
    Base64(Vec<u8>),
    /// A `dateTime.iso8601` value, kept as written (Koji itself sends strings).
    DateTime(String),
}

impl Value {
    /// A struct from `(name, value)` pairs.
    pub fn structure<K: Into<String>>(members: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Struct(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The member `key` of a struct (the first one, should it repeat).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::DateTime(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A float, or an integer widened to one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Python truthiness, as the hub applies it to flags such as `inherit`
    /// (the CLI sends `nil` for an option not given).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Double(d) => *d != 0.0,
            Value::String(s) | Value::DateTime(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Struct(m) => !m.is_empty(),
            Value::Base64(b) => !b.is_empty(),
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Struct(m) => Some(m),
            _ => None,
        }
    }

    /// The XML-RPC type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
            Value::Base64(_) => "base64",
            Value::DateTime(_) => "dateTime.iso8601",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::String(s.clone())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Value {
        Value::Int(i.into())
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Value {
        Value::Int(i.into())
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Value {
        Value::Double(d)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

/// A fault response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: i64,
    pub message: String,
}

impl Fault {
    pub fn new(code: i64, message: impl Into<String>) -> Fault {
        Fault {
            code,
            message: message.into(),
        }
    }

    /// The fault struct as it appears in a response (and in a multicall result).
    pub fn to_value(&self) -> Value {
        Value::structure([
            ("faultCode", Value::Int(self.code)),
            ("faultString", Value::String(self.message.clone())),
        ])
    }

    /// Read a `{faultCode, faultString}` struct.
    pub fn from_value(v: &Value) -> Result<Fault, XmlRpcError> {
        let code = v.get("faultCode").and_then(Value::as_i64);
        let message = v.get("faultString").and_then(Value::as_str);
        match (code, message) {
            (Some(code), Some(message)) => Ok(Fault::new(code, message)),
            _ => Err(XmlRpcError::Unexpected {
                expected: "a fault struct {faultCode: int, faultString: string}".to_owned(),
                found: describe(v),
            }),
        }
    }
}

/// What a `methodResponse` held.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Success(Value),
    Fault(Fault),
}

/// A parsed `methodCall`.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

impl MethodCall {
    /// Split Koji-style keyword arguments off the positional ones (Koji's
    /// `decode_args`): a trailing struct with a true `__starstar` member holds
    /// them; that member itself is dropped.
    pub fn split_kwargs(mut self) -> (Vec<Value>, Vec<(String, Value)>) {
        let is_kwargs = matches!(
            self.params.last(),
            Some(last @ Value::Struct(_)) if last.get(STARSTAR).is_some_and(Value::truthy)
        );
        if !is_kwargs {
            return (self.params, Vec::new());
        }
        let Some(Value::Struct(members)) = self.params.pop() else {
            return (self.params, Vec::new());
        };
        let kwargs = members.into_iter().filter(|(k, _)| k != STARSTAR).collect();
        (self.params, kwargs)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmlRpcError {
    #[error("invalid XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("expected {expected}, found {found}")]
    Unexpected { expected: String, found: String },
    #[error("invalid <{kind}> value {text:?}")]
    BadScalar { kind: &'static str, text: String },
    #[error("field {field}: expected {expected}, found {found}")]
    Field {
        field: String,
        expected: &'static str,
        found: String,
    },
}

/// A short description of a value for messages (its type, or the value of a scalar).
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Nil => "nil".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Int(i) => format!("int {i}"),
        Value::Double(d) => format!("double {d}"),
        Value::String(s) => format!("string {s:?}"),
        other => other.type_name().to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Writing

/// A `methodCall` document. Keyword arguments, if any, must already be the
/// trailing `__starstar` struct (see [`kwargs`]).
pub fn write_call(method: &str, params: &[Value]) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    out.push_str(&quick_xml::escape::partial_escape(method));
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        write_value(&mut out, p);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

/// The trailing struct that carries keyword arguments: the keywords in the
/// order given, then `__starstar = true`.
pub fn kwargs<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    let mut members: Vec<(String, Value)> = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    members.push((STARSTAR.to_owned(), Value::Bool(true)));
    Value::Struct(members)
}

/// A successful `methodResponse` document.
pub fn write_response(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, value);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

/// A fault `methodResponse` document.
pub fn write_fault(fault: &Fault) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    write_value(&mut out, &fault.to_value());
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

fn write_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Nil => out.push_str("<nil/>"),
        Value::Bool(b) => {
            out.push_str(if *b {
                "<boolean>1</boolean>"
            } else {
                "<boolean>0</boolean>"
            });
        }
        Value::Int(i) => {
            // Koji's marshaller: <int> within 32 bits, <i8> beyond.
            let tag = if i32::try_from(*i).is_ok() {
                "int"
            } else {
                "i8"
            };
            let _ = write!(out, "<{tag}>{i}</{tag}>");
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::String(s) => {
            out.push_str("<string>");
            out.push_str(&quick_xml::escape::partial_escape(s.as_str()));
            out.push_str("</string>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (name, value) in members {
                out.push_str("<member>\n<name>");
                out.push_str(&quick_xml::escape::partial_escape(name.as_str()));
                out.push_str("</name>\n");
                write_value(out, value);
                out.push_str("</member>\n");
            }
            out.push_str("</struct>");
        }
        Value::Base64(bytes) => {
            out.push_str("<base64>");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            out.push_str("</base64>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            out.push_str(&quick_xml::escape::partial_escape(s.as_str()));
            out.push_str("</dateTime.iso8601>");
        }
    }
    out.push_str("</value>\n");
}

// ---------------------------------------------------------------------------
// Reading

/// Read a `methodResponse`: its one value, or its fault.
pub fn parse_response(xml: &str) -> Result<Response, XmlRpcError> {
    let mut p = Parser::new(xml);
    p.open("methodResponse")?;
    let response = match p.next_element()? {
        Tok::Open(name) if name == "params" => {
            let mut values = p.params()?;
            // Python's xmlrpc answers exactly one value; an empty <params/> is read as nil.
            if values.len() > 1 {
                return Err(XmlRpcError::Unexpected {
                    expected: "one response value".to_owned(),
                    found: format!("{} values", values.len()),
                });
            }
            Response::Success(values.pop().unwrap_or(Value::Nil))
        }
        Tok::Open(name) if name == "fault" => {
            p.open("value")?;
            let v = p.value_body()?;
            p.close("fault")?;
            Response::Fault(Fault::from_value(&v)?)
        }
        other => {
            return Err(XmlRpcError::Unexpected {
                expected: "<params> or <fault>".to_owned(),
                found: other.describe(),
            });
        }
    };
    p.close("methodResponse")?;
    p.end()?;
    Ok(response)
}

/// Read a `methodCall`: method name and positional parameters (keyword
/// arguments are still the trailing struct; see [`MethodCall::split_kwargs`]).
pub fn parse_call(xml: &str) -> Result<MethodCall, XmlRpcError> {
    let mut p = Parser::new(xml);
    p.open("methodCall")?;
    p.open("methodName")?;
    let method = p.text_until("methodName")?.trim().to_owned();
    let params = match p.next_element()? {
        Tok::Open(name) if name == "params" => {
            let params = p.params()?;
            p.close("methodCall")?;
            params
        }
        Tok::Close(name) if name == "methodCall" => Vec::new(),
        other => {
            return Err(XmlRpcError::Unexpected {
                expected: "<params> or </methodCall>".to_owned(),
                found: other.describe(),
            });
        }
    };
    p.end()?;
    Ok(MethodCall { method, params })
}

#[derive(Debug)]
enum Tok {
    Open(String),
    Close(String),
    Text(String),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Open(n) => format!("<{n}>"),
            Tok::Close(n) => format!("</{n}>"),
            Tok::Text(t) => format!("text {:?}", truncate(t)),
            Tok::Eof => "end of document".to_owned(),
        }
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A token stream over quick-xml events: element names are local names (so
/// `<ex:nil/>` is `nil`), adjacent text, CDATA and entity references are
/// joined into one text token, and an empty element is an open plus a close.
struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    queue: VecDeque<Tok>,
}

impl<'a> Parser<'a> {
    fn new(xml: &'a str) -> Parser<'a> {
        Parser {
            reader: Reader::from_str(xml),
            queue: VecDeque::new(),
        }
    }

    fn xml_err(&self, message: impl ToString) -> XmlRpcError {
        XmlRpcError::Xml {
            position: self.reader.buffer_position(),
            message: message.to_string(),
        }
    }

    fn next(&mut self) -> Result<Tok, XmlRpcError> {
        if let Some(t) = self.queue.pop_front() {
            return Ok(t);
        }
        let mut text: Option<String> = None;
        loop {
            let ev = self.reader.read_event().map_err(|e| self.xml_err(e))?;
            match ev {
                Event::Text(t) => text.get_or_insert_default().push_str(&t.xml10_content()),
                Event::CData(t) => {
                    text.get_or_insert_default().push_str(&t.into_inner());
                }
                Event::GeneralRef(r) => {
                    let c = r.resolve_char_ref().map_err(|e| self.xml_err(e))?;
                    let buf = text.get_or_insert_default();
                    match c {
                        Some(c) => buf.push(c),
                        None => {
                            let name = r.xml10_content();
                            match quick_xml::escape::resolve_predefined_entity(&name) {
                                Some(s) => buf.push_str(s),
                                None => {
                                    return Err(self.xml_err(format!("unknown entity &{name};")));
                                }
                            }
                        }
                    }
                }
                Event::Start(e) => self.queue.push_back(Tok::Open(local_name(e.local_name()))),
                Event::Empty(e) => {
                    let name = local_name(e.local_name());
                    self.queue.push_back(Tok::Open(name.clone()));
                    self.queue.push_back(Tok::Close(name));
                }
                Event::End(e) => self.queue.push_back(Tok::Close(local_name(e.local_name()))),
                Event::Eof => self.queue.push_back(Tok::Eof),
                // declarations, comments, processing instructions, doctype
                _ => {}
            }
            if !self.queue.is_empty() {
                if let Some(t) = text {
                    self.queue.push_front(Tok::Text(t));
                }
                return Ok(self.queue.pop_front().unwrap_or(Tok::Eof));
            }
        }
    }

    /// The next token that is not whitespace-only text.
    fn next_element(&mut self) -> Result<Tok, XmlRpcError> {
        loop {
            match self.next()? {
                Tok::Text(t) if t.trim().is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    fn open(&mut self, name: &str) -> Result<(), XmlRpcError> {
        match self.next_element()? {
            Tok::Open(n) if n == name => Ok(()),
            other => Err(XmlRpcError::Unexpected {
                expected: format!("<{name}>"),
                found: other.describe(),
            }),
        }
    }

    fn close(&mut self, name: &str) -> Result<(), XmlRpcError> {
        match self.next_element()? {
            Tok::Close(n) if n == name => Ok(()),
            other => Err(XmlRpcError::Unexpected {
                expected: format!("</{name}>"),
                found: other.describe(),
            }),
        }
    }

    fn end(&mut self) -> Result<(), XmlRpcError> {
        match self.next_element()? {
            Tok::Eof => Ok(()),
            other => Err(XmlRpcError::Unexpected {
                expected: "end of document".to_owned(),
                found: other.describe(),
            }),
        }
    }

    /// The text of an element whose open tag was just read, through its close tag.
    fn text_until(&mut self, name: &str) -> Result<String, XmlRpcError> {
        match self.next()? {
            Tok::Text(t) => {
                self.close(name)?;
                Ok(t)
            }
            Tok::Close(n) if n == name => Ok(String::new()),
            other => Err(XmlRpcError::Unexpected {
                expected: "text".to_owned(),
                found: other.describe(),
            }),
        }
    }

    /// `<param><value>…</value></param>`… through `</params>`.
    fn params(&mut self) -> Result<Vec<Value>, XmlRpcError> {
        let mut values = Vec::new();
        loop {
            match self.next_element()? {
                Tok::Open(n) if n == "param" => {
                    self.open("value")?;
                    values.push(self.value_body()?);
                    self.close("param")?;
                }
                Tok::Close(n) if n == "params" => return Ok(values),
                other => {
                    return Err(XmlRpcError::Unexpected {
                        expected: "<param> or </params>".to_owned(),
                        found: other.describe(),
                    });
                }
            }
        }
    }

    /// What follows `<value>`, through `</value>`.
    fn value_body(&mut self) -> Result<Value, XmlRpcError> {
        let first = self.next()?;
        let first = match first {
            // A bare <value>text</value> is a string.
            Tok::Text(t) => match self.next()? {
                Tok::Close(n) if n == "value" => return Ok(Value::String(t)),
                Tok::Open(n) if t.trim().is_empty() => Tok::Open(n),
                other => {
                    return Err(XmlRpcError::Unexpected {
                        expected: "a typed value or </value>".to_owned(),
                        found: other.describe(),
                    });
                }
            },
            Tok::Close(n) if n == "value" => return Ok(Value::String(String::new())),
            other => other,
        };
        let Tok::Open(kind) = first else {
            return Err(XmlRpcError::Unexpected {
                expected: "a typed value or </value>".to_owned(),
                found: first.describe(),
            });
        };
        let value = self.typed(&kind)?;
        self.close("value")?;
        Ok(value)
    }

    /// The value inside `<kind>…</kind>`, whose open tag was just read.
    fn typed(&mut self, kind: &str) -> Result<Value, XmlRpcError> {
        Ok(match kind {
            "nil" => {
                self.skip_to_close("nil")?;
                Value::Nil
            }
            "string" => Value::String(self.text_until("string")?),
            "int" | "i4" | "i8" | "i1" | "i2" | "biginteger" => {
                let text = self.text_until(kind)?;
                Value::Int(
                    text.trim()
                        .parse()
                        .map_err(|_| XmlRpcError::BadScalar { kind: "int", text })?,
                )
            }
            "boolean" => {
                let text = self.text_until("boolean")?;
                Value::Bool(match text.trim() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(XmlRpcError::BadScalar {
                            kind: "boolean",
                            text,
                        });
                    }
                })
            }
            "double" | "float" => {
                let text = self.text_until(kind)?;
                Value::Double(text.trim().parse().map_err(|_| XmlRpcError::BadScalar {
                    kind: "double",
                    text,
                })?)
            }
            "dateTime.iso8601" => {
                Value::DateTime(self.text_until("dateTime.iso8601")?.trim().to_owned())
            }
            "base64" => {
                let text = self.text_until("base64")?;
                let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                Value::Base64(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .map_err(|_| XmlRpcError::BadScalar {
                            kind: "base64",
                            text: truncate(&text).to_owned(),
                        })?,
                )
            }
            "array" => {
                self.open("data")?;
                let mut items = Vec::new();
                loop {
                    match self.next_element()? {
                        Tok::Open(n) if n == "value" => items.push(self.value_body()?),
                        Tok::Close(n) if n == "data" => break,
                        other => {
                            return Err(XmlRpcError::Unexpected {
                                expected: "<value> or </data>".to_owned(),
                                found: other.describe(),
                            });
                        }
                    }
                }
                self.close("array")?;
                Value::Array(items)
            }
            "struct" => {
                let mut members = Vec::new();
                loop {
                    match self.next_element()? {
                        Tok::Open(n) if n == "member" => {
                            self.open("name")?;
                            let name = self.text_until("name")?;
                            self.open("value")?;
                            members.push((name, self.value_body()?));
                            self.close("member")?;
                        }
                        Tok::Close(n) if n == "struct" => break,
                        other => {
                            return Err(XmlRpcError::Unexpected {
                                expected: "<member> or </struct>".to_owned(),
                                found: other.describe(),
                            });
                        }
                    }
                }
                Value::Struct(members)
            }
            other => {
                return Err(XmlRpcError::Unexpected {
                    expected: "an XML-RPC type".to_owned(),
                    found: format!("<{other}>"),
                });
            }
        })
    }

    /// Skip everything up to the matching close tag of an element without children.
    fn skip_to_close(&mut self, name: &str) -> Result<(), XmlRpcError> {
        match self.next_element()? {
            Tok::Close(n) if n == name => Ok(()),
            other => Err(XmlRpcError::Unexpected {
                expected: format!("</{name}>"),
                found: other.describe(),
            }),
        }
    }
}

fn local_name(n: quick_xml::name::LocalName<'_>) -> String {
    n.as_ref().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Value) {
        let xml = write_response(&v);
        assert_eq!(parse_response(&xml).unwrap(), Response::Success(v), "{xml}");
    }

    #[test]
    fn every_type_survives_a_round_trip() {
        round_trip(Value::Nil);
        round_trip(Value::Bool(true));
        round_trip(Value::Bool(false));
        round_trip(Value::Int(-7));
        round_trip(Value::Double(1_700_000_000.25));
        round_trip(Value::Double(1.0));
        round_trip(Value::String("bash-5.2.26-3.fc40".into()));
        round_trip(Value::String(String::new()));
        round_trip(Value::String("  spaced  \n lines ".into()));
        round_trip(Value::Base64(vec![0, 1, 2, 250, 255]));
        round_trip(Value::DateTime("20240101T12:00:00".into()));
        round_trip(Value::Array(vec![]));
        round_trip(Value::Struct(vec![]));
        round_trip(Value::structure([
            ("z", Value::Int(1)),
            (
                "a",
                Value::Array(vec![Value::Nil, Value::from("x"), Value::Int(1 << 40)]),
            ),
            ("m", Value::structure([("inner", Value::Bool(true))])),
        ]));
    }

    #[test]
    fn struct_members_keep_their_order() {
        let v = Value::structure([("b", Value::Int(1)), ("a", Value::Int(2))]);
        let Response::Success(Value::Struct(m)) = parse_response(&write_response(&v)).unwrap()
        else {
            panic!("not a struct")
        };
        assert_eq!(m[0].0, "b");
        assert_eq!(m[1].0, "a");
    }

    #[test]
    fn integers_beyond_32_bits_are_written_as_i8() {
        let xml = write_call("x", &[Value::Int(i64::from(i32::MAX)), Value::Int(1 << 33)]);
        assert!(xml.contains("<int>2147483647</int>"), "{xml}");
        assert!(xml.contains("<i8>8589934592</i8>"), "{xml}");
        let xml = write_call("x", &[Value::Int(i64::from(i32::MIN) - 1)]);
        assert!(xml.contains("<i8>-2147483649</i8>"), "{xml}");
        round_trip(Value::Int(i64::MAX));
        round_trip(Value::Int(i64::MIN));
    }

    #[test]
    fn every_integer_spelling_is_read() {
        for (doc, want) in [
            ("<i4>42</i4>", 42),
            ("<int> -3 </int>", -3),
            ("<i8>9007199254740993</i8>", 9_007_199_254_740_993),
            ("<ex:i8>5</ex:i8>", 5),
        ] {
            let xml = format!(
                "<methodResponse><params><param><value>{doc}</value></param></params></methodResponse>"
            );
            assert_eq!(
                parse_response(&xml).unwrap(),
                Response::Success(Value::Int(want))
            );
        }
    }

    #[test]
    fn nil_in_both_spellings_and_a_bare_value_is_a_string() {
        let xml = r#"<?xml version="1.0"?>
<methodResponse xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">
 <params><param><value><array><data>
   <value><nil/></value>
   <value><ex:nil/></value>
   <value>bare &amp; text</value>
   <value></value>
   <value><string></string></value>
   <value><dateTime.iso8601>20240101T00:00:00</dateTime.iso8601></value>
 </data></array></value></param></params>
</methodResponse>"#;
        assert_eq!(
            parse_response(xml).unwrap(),
            Response::Success(Value::Array(vec![
                Value::Nil,
                Value::Nil,
                Value::String("bare & text".into()),
                Value::String(String::new()),
                Value::String(String::new()),
                Value::DateTime("20240101T00:00:00".into()),
            ]))
        );
    }

    #[test]
    fn a_fault_is_read_with_its_code_and_string() {
        let xml = write_fault(&Fault::new(1000, "No such tagInfo: 'x'"));
        assert_eq!(
            parse_response(&xml).unwrap(),
            Response::Fault(Fault::new(1000, "No such tagInfo: 'x'"))
        );
        let python = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
            <member>\n<name>faultCode</name>\n<value><int>1014</int></value>\n</member>\n\
            <member>\n<name>faultString</name>\n<value><string>server is offline</string></value>\n</member>\n\
            </struct></value>\n</fault>\n</methodResponse>\n";
        assert_eq!(
            parse_response(python).unwrap(),
            Response::Fault(Fault::new(1014, "server is offline"))
        );
    }

    #[test]
    fn markup_in_strings_is_escaped_and_restored() {
        let nasty = "<tag> & \"quotes\" 'apos' ]]> \r\n é ✓";
        let xml = write_call(
            "getTag",
            &[Value::from(nasty), Value::structure([(nasty, Value::Nil)])],
        );
        assert!(!xml.contains("<tag>"), "{xml}");
        let call = parse_call(&xml).unwrap();
        assert_eq!(call.params[0], Value::from(nasty));
        assert_eq!(call.params[1].as_struct().unwrap()[0].0, nasty);
        let with_refs = "<methodResponse><params><param><value><string>&#65;&#x42;&lt;&gt;&quot;<![CDATA[<c>]]></string></value></param></params></methodResponse>";
        assert_eq!(
            parse_response(with_refs).unwrap(),
            Response::Success(Value::from("AB<>\"<c>"))
        );
    }

    #[test]
    fn keyword_arguments_travel_as_a_starstar_struct() {
        let params = vec![
            Value::from("f40-build"),
            kwargs([
                ("event", Value::Nil),
                ("inherit", Value::Bool(true)),
                ("latest", Value::Bool(true)),
            ]),
        ];
        let xml = write_call("listTaggedRPMS", &params);
        assert!(
            xml.contains("<name>__starstar</name>\n<value><boolean>1</boolean></value>"),
            "{xml}"
        );
        let call = parse_call(&xml).unwrap();
        assert_eq!(call.method, "listTaggedRPMS");
        let (args, kw) = call.split_kwargs();
        assert_eq!(args, vec![Value::from("f40-build")]);
        let names: Vec<&str> = kw.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["event", "inherit", "latest"]);
        assert_eq!(kw[0].1, Value::Nil);
    }

    #[test]
    fn a_plain_trailing_struct_is_positional() {
        let call = MethodCall {
            method: "getBuild".into(),
            params: vec![Value::structure([
                ("name", Value::from("bash")),
                (STARSTAR, Value::Bool(false)),
            ])],
        };
        let (args, kw) = call.split_kwargs();
        assert_eq!(args.len(), 1);
        assert!(kw.is_empty());
    }

    #[test]
    fn a_call_without_params_is_read() {
        let call =
            parse_call("<methodCall><methodName>getAPIVersion</methodName></methodCall>").unwrap();
        assert_eq!(call.method, "getAPIVersion");
        assert!(call.params.is_empty());
        let call =
            parse_call("<methodCall><methodName>getLastEvent</methodName><params/></methodCall>")
                .unwrap();
        assert!(call.params.is_empty());
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for bad in [
            "",
            "<methodResponse>",
            "<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><boolean>2</boolean></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><float2>1</float2></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><struct><member><value><nil/></value></member></struct></value></param></params></methodResponse>",
            "<methodResponse><fault><value><struct></struct></value></fault></methodResponse>",
            "<methodResponse><params></params></methodResponse><extra/>",
            "<html><body>502 Bad Gateway</body></html>",
            "<methodResponse><params><param><value><string>&bogus;</string></value></param></params></methodResponse>",
        ] {
            assert!(parse_response(bad).is_err(), "accepted {bad:?}");
        }
    }
}
