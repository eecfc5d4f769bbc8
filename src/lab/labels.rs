//! Label selectors parsed as apimachinery's `labels.Parse` does: its lexer, its grammar, its key and
//! value validation and its error messages (the API server answers them as a 400).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Not,      // !
    Eq,       // =
    DoubleEq, // ==
    NotEq,    // !=
    Gt,       // >
    Lt,       // <
    In,
    NotIn,
    Open,
    Close,
    Comma,
    End,
}

impl Tok {
    fn literal(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Not => "!".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::End => String::new(),
        }
    }
}

fn special(c: char) -> bool {
    matches!(c, '!' | '=' | '>' | '<' | '(' | ')' | ',')
}

fn lex(s: &str) -> Vec<Tok> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if special(c) {
            let next = cs.get(i + 1).copied();
            let (t, n) = match (c, next) {
                ('!', Some('=')) => (Tok::NotEq, 2),
                ('=', Some('=')) => (Tok::DoubleEq, 2),
                ('!', _) => (Tok::Not, 1),
                ('=', _) => (Tok::Eq, 1),
                ('>', _) => (Tok::Gt, 1),
                ('<', _) => (Tok::Lt, 1),
                ('(', _) => (Tok::Open, 1),
                (')', _) => (Tok::Close, 1),
                _ => (Tok::Comma, 1),
            };
            out.push(t);
            i += n;
            continue;
        }
        let start = i;
        while i < cs.len() && !cs[i].is_whitespace() && !special(cs[i]) {
            i += 1;
        }
        let word: String = cs[start..i].iter().collect();
        out.push(match word.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident(word),
        });
    }
    out.push(Tok::End);
    out
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Eq,
    NotEq,
    In,
    NotIn,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Selector(Vec<Requirement>);

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    /// In value position `in` and `notin` are plain identifiers.
    fn as_value(t: Tok) -> Tok {
        match t {
            Tok::In => Tok::Ident("in".into()),
            Tok::NotIn => Tok::Ident("notin".into()),
            t => t,
        }
    }
    fn peek(&self) -> Tok {
        Self::as_value(self.toks[self.pos.min(self.toks.len() - 1)].clone())
    }
    fn next_raw(&mut self) -> Tok {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        self.pos += 1;
        t
    }
    fn next(&mut self) -> Tok {
        Self::as_value(self.next_raw())
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut t = self.next();
        let mut op = None;
        if t == Tok::Not {
            op = Some(Op::NotExists);
            t = self.next();
        }
        let Tok::Ident(key) = t else {
            return Err(format!("found '{}', expected: identifier", t.literal()));
        };
        validate_key(&key)?;
        // `!a` takes no value; whatever follows is the selector's to reject.
        if op.is_some() || matches!(self.peek(), Tok::End | Tok::Comma) {
            return Ok(Requirement {
                key,
                op: op.unwrap_or(Op::Exists),
                values: vec![],
            });
        }
        let t = self.next_raw();
        let op = match t {
            Tok::In => Op::In,
            Tok::NotIn => Op::NotIn,
            Tok::Eq | Tok::DoubleEq => Op::Eq,
            Tok::NotEq => Op::NotEq,
            Tok::Gt => Op::Gt,
            Tok::Lt => Op::Lt,
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ))
            }
        };
        let values = match op {
            Op::In | Op::NotIn => self.set_values()?,
            _ => self.exact_value()?,
        };
        validate_values(op, &values)?;
        Ok(Requirement { key, op, values })
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        if matches!(self.peek(), Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.next() {
            Tok::Ident(v) => Ok(vec![v]),
            t => Err(format!("found '{}', expected: identifier", t.literal())),
        }
    }

    fn set_values(&mut self) -> Result<Vec<String>, String> {
        let t = self.next();
        if t != Tok::Open {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        let mut out: Vec<String> = vec![];
        let push = |out: &mut Vec<String>, v: String| {
            if !out.contains(&v) {
                out.push(v);
            }
        };
        match self.peek() {
            Tok::Close => {
                self.next();
                return Ok(vec![String::new()]);
            }
            Tok::Ident(_) | Tok::Comma => {}
            t => {
                return Err(format!(
                    "found '{}', expected: ',', ')' or identifier",
                    t.literal()
                ))
            }
        }
        loop {
            match self.next() {
                Tok::Ident(v) => {
                    push(&mut out, v);
                    match self.peek() {
                        Tok::Comma => continue,
                        Tok::Close => break,
                        t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                    }
                }
                Tok::Comma => {
                    if out.is_empty() {
                        push(&mut out, String::new());
                    }
                    match self.peek() {
                        Tok::Close => {
                            push(&mut out, String::new());
                            break;
                        }
                        Tok::Comma => {
                            self.next();
                            push(&mut out, String::new());
                        }
                        _ => {}
                    }
                }
                t => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        t.literal()
                    ))
                }
            }
        }
        self.next();
        out.sort();
        Ok(out)
    }
}

const NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

fn name_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns_subdomain_ok(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// apimachinery's `IsQualifiedName`, reported as a field error without a path.
fn validate_key(k: &str) -> Result<(), String> {
    let parts: Vec<&str> = k.split('/').collect();
    let mut errs = vec![];
    let name = match parts.as_slice() {
        [n] => *n,
        [prefix, n] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else if !dns_subdomain_ok(prefix) {
                errs.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
            }
            n
        }
        _ => {
            return Err(format!("<nil>: Invalid value: {k:?}: a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{NAME_FMT}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".into());
    }
    if !name_ok(name) {
        errs.push(format!("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{NAME_FMT}')"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("<nil>: Invalid value: {k:?}: {}", errs.join("; ")))
    }
}

fn validate_values(op: Op, values: &[String]) -> Result<(), String> {
    for (i, v) in values.iter().enumerate() {
        if matches!(op, Op::Gt | Op::Lt) {
            if v.parse::<i64>().is_err() {
                return Err(format!("values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"));
            }
            continue;
        }
        if !v.is_empty() && (v.len() > 63 || !name_ok(v)) {
            let mut why = vec![];
            if v.len() > 63 {
                why.push("must be no more than 63 characters".to_string());
            }
            if !name_ok(v) {
                why.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
            }
            return Err(format!(
                "values[{i}]: Invalid value: {v:?}: {}",
                why.join("; ")
            ));
        }
    }
    Ok(())
}

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        let mut reqs = vec![];
        loop {
            match p.peek() {
                Tok::Ident(_) | Tok::Not => {
                    let r = p
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    match p.next() {
                        Tok::End => break,
                        Tok::Comma => {
                            let t = p.peek();
                            if !matches!(t, Tok::Ident(_) | Tok::Not) {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                ));
                            }
                        }
                        t => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            ))
                        }
                    }
                }
                Tok::End => break,
                t => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    ))
                }
            }
        }
        Ok(Selector(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| {
            let v = get(&r.key);
            let has = |x: &str| r.values.iter().any(|w| w == x);
            let num = |x: &str| x.parse::<i64>().ok();
            let bound = r.values.first().and_then(|b| num(b));
            match r.op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Eq | Op::In => v.is_some_and(has),
                Op::NotEq | Op::NotIn => !v.is_some_and(has),
                Op::Gt => matches!((v.and_then(num), bound), (Some(x), Some(b)) if x > b),
                Op::Lt => matches!((v.and_then(num), bound), (Some(x), Some(b)) if x < b),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_selectors_get_the_apiservers_messages() {
        let e = |s: &str| Selector::parse(s).unwrap_err();
        assert_eq!(
            e("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            e("=="),
            "found '==', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            e("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(e("a=b c=d"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(e("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            e("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            e("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert!(e("a=b!").contains("found '!'"));
        assert_eq!(e("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert!(e("-a=b").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist"
        ));
        assert!(
            e("a=-b").starts_with("unable to parse requirement: values[0]: Invalid value: \"-b\"")
        );
    }

    #[test]
    fn valid_selectors_match_as_on_a_real_server() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe", "n": "5", "example.com/x": "1"}}});
        let m = |s: &str| Selector::parse(s).unwrap().matches(&o);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app in (db, web),!missing"));
        assert!(!m("tier notin (fe)"));
        assert!(m("n>4") && !m("n>5") && m("n<6"));
        assert!(!m("app>1"));
        assert!(m("example.com/x=1"));
        assert!(m("app in (web,)"));
        assert!(m("  app = web  "));
    }
}
