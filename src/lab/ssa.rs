//! Server-side apply and field ownership, an approximation of structured-merge-diff for the shapes
//! the lab's kinds have: every write records who set which fields (`metadata.managedFields`), an
//! apply merges its configuration into the live object, drops what the same manager applied
//! before and no longer does, and conflicts with other managers unless forced.
//!
//! Pure: objects in, objects and manager entries out.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A set of field paths in the tree shape `fieldsV1` serializes: children keyed by path element
/// (`f:name`, `k:{"key":value}`, `v:value`, `i:index`); `member` when the path itself is in the set,
/// not only paths below it (serialized as `".": {}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    pub fn insert(&mut self, path: &[String]) {
        let mut cur = self;
        for pe in path {
            cur = cur.children.entry(pe.clone()).or_default();
        }
        cur.member = true;
    }

    #[cfg(test)]
    pub fn contains(&self, path: &[String]) -> bool {
        let mut cur = self;
        for pe in path {
            match cur.children.get(pe) {
                Some(c) => cur = c,
                None => return false,
            }
        }
        cur.member
    }

    /// No path at all (the root is never a member).
    pub fn is_empty(&self) -> bool {
        self.children.values().all(|c| !c.member && c.is_empty())
    }

    pub(crate) fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.children.entry(k.clone()).or_default().union(c);
        }
    }

    /// The members of `self` that are not members of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if d.member || !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    /// `self` without every path at or below a member of `other`.
    pub(crate) fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) if o.member => continue,
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if d.member || !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if i.member || !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Every member path, in the set's order.
    pub fn paths(&self) -> Vec<Vec<String>> {
        fn walk(s: &FieldSet, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            for (k, c) in &s.children {
                prefix.push(k.clone());
                if c.member {
                    out.push(prefix.clone());
                }
                walk(c, prefix, out);
                prefix.pop();
            }
        }
        let mut out = vec![];
        walk(self, &mut vec![], &mut out);
        out
    }

    /// Reads a `fieldsV1` tree. Anything that is not one is an error, as on a real server.
    pub(crate) fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Some(m) = v.as_object() else {
            return Err(format!("expected an object, found {v}"));
        };
        let mut out = FieldSet::default();
        for (k, c) in m {
            if k == "." {
                out.member = true;
                continue;
            }
            if !["f:", "k:", "v:", "i:"].iter().any(|p| k.starts_with(p)) {
                return Err(format!("unexpected path element {k:?}"));
            }
            let mut child = FieldSet::from_fields_v1(c)?;
            if child.children.is_empty() {
                child.member = true;
            }
            out.children.insert(k.clone(), child);
        }
        Ok(out)
    }

    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if c.member || !c.is_empty() {
                m.insert(k.clone(), c.to_fields_v1());
            }
        }
        Value::Object(m)
    }
}

/// A path as structured-merge-diff prints it: `.spec.ports[port=80,protocol="TCP"].name`.
pub(crate) fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for pe in path {
        if let Some(f) = pe.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = pe.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = keys.iter().map(|(n, v)| format!("{n}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = pe.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = pe.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

fn field(name: &str) -> String {
    format!("f:{name}")
}

/// What a node of an object is, as far as merging and ownership go.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    /// A scalar, or a value the schema says is replaced as a whole.
    Leaf,
    /// Fields named by the schema: each one owned on its own.
    Struct,
    /// Free-form keys (labels, data): each key owned on its own, and a member itself.
    Map,
    /// A list whose items are identified by key fields (with the keys' defaults).
    ListMap(Vec<(String, Option<Value>)>),
    /// A list of distinct scalars.
    ListSet,
}

/// The shapes of one kind's objects: a CRD's `openAPIV3Schema` or the built-in rules.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Types<'a> {
    crd: Option<&'a Value>,
}

impl<'a> Types<'a> {
    pub(crate) fn builtin() -> Self {
        Types { crd: None }
    }
    pub fn crd(schema: &'a Value) -> Self {
        Types { crd: Some(schema) }
    }

    /// The shape of `v` at `path` (field names, `[]` for a list item).
    pub fn shape(&self, path: &[&str], v: &Value) -> Shape {
        let declared = match self.crd {
            Some(root) if path.first() != Some(&"metadata") => crd_shape(root, path),
            _ => builtin_shape(path),
        };
        match (v, declared) {
            (Value::Object(_), s @ (Shape::Leaf | Shape::Map)) => s,
            (Value::Object(_), _) => Shape::Struct,
            (Value::Array(items), Shape::ListMap(keys))
                if items.iter().all(|i| {
                    i.is_object() && keys.iter().all(|(k, d)| d.is_some() || i.get(k).is_some())
                }) =>
            {
                Shape::ListMap(keys)
            }
            (Value::Array(items), Shape::ListSet)
                if items.iter().all(|i| !i.is_object() && !i.is_array()) =>
            {
                Shape::ListSet
            }
            _ => Shape::Leaf,
        }
    }

    /// Structs a real server's typed objects always carry: an update that fills them first does
    /// not make its manager own the struct itself.
    fn implicit(&self, path: &[&str]) -> bool {
        match path {
            ["metadata"] => true,
            ["spec" | "status"] => self.crd.is_none(),
            _ => false,
        }
    }
}

fn builtin_shape(path: &[&str]) -> Shape {
    let tcp = Some(Value::String("TCP".into()));
    let name = || Shape::ListMap(vec![("name".into(), None)]);
    match path {
        ["metadata", "finalizers"] => Shape::ListSet,
        ["metadata", "ownerReferences"] => Shape::ListMap(vec![("uid".into(), None)]),
        ["spec", "ports"] => Shape::ListMap(vec![("port".into(), None), ("protocol".into(), tcp)]),
        [.., "containers" | "initContainers", "[]", "ports"] => Shape::ListMap(vec![
            ("containerPort".into(), None),
            ("protocol".into(), tcp),
        ]),
        [.., "containers" | "initContainers" | "env" | "volumes"] => name(),
        [.., "volumeMounts"] => Shape::ListMap(vec![("mountPath".into(), None)]),
        [.., "conditions"] => Shape::ListMap(vec![("type".into(), None)]),
        [.., "labels" | "annotations" | "nodeSelector" | "capacity" | "allocatable"] => Shape::Map,
        ["data" | "binaryData" | "stringData"] => Shape::Map,
        // Label selectors are replaced whole (`mapType=atomic` / `structType=atomic`).
        [.., "selector"] => Shape::Leaf,
        _ => Shape::Struct,
    }
}

fn crd_shape(root: &Value, path: &[&str]) -> Shape {
    let mut s = root;
    for p in path {
        let next = if *p == "[]" {
            s.get("items")
        } else {
            s["properties"]
                .get(*p)
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
        };
        match next {
            Some(n) => s = n,
            // Below an unknown or preserved field: deduced, maps by field, lists atomic.
            None => return Shape::Struct,
        }
    }
    match s["type"].as_str() {
        Some("array") => match s["x-kubernetes-list-type"].as_str() {
            Some("map") => Shape::ListMap(
                s["x-kubernetes-list-map-keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|k| {
                        (
                            k.to_string(),
                            s["items"]["properties"][k].get("default").cloned(),
                        )
                    })
                    .collect(),
            ),
            Some("set") => Shape::ListSet,
            _ => Shape::Leaf,
        },
        Some("object") if s["x-kubernetes-map-type"] == "atomic" => Shape::Leaf,
        Some("object") if s["properties"].is_null() && s["additionalProperties"].is_object() => {
            Shape::Map
        }
        _ => Shape::Struct,
    }
}

/// The path element of a list item.
fn item_element(shape: &Shape, item: &Value) -> String {
    match shape {
        Shape::ListMap(keys) => {
            let parts: Vec<String> = keys
                .iter()
                .map(|(k, d)| {
                    let v = item.get(k).or(d.as_ref()).cloned().unwrap_or(Value::Null);
                    format!("{}:{}", Value::String(k.clone()), v)
                })
                .collect();
            format!("k:{{{}}}", parts.join(","))
        }
        _ => format!("v:{item}"),
    }
}

/// The fields a configuration sets (structured-merge-diff's `ToFieldSet`).
pub(crate) fn to_field_set(types: &Types, v: &Value) -> Result<FieldSet, String> {
    let mut out = FieldSet::default();
    set_walk(types, &mut vec![], &mut vec![], v, &mut out, false)?;
    Ok(out)
}

/// `all`: every node, containers included (what a removal takes with it).
fn set_walk<'v>(
    types: &Types,
    names: &mut Vec<&'v str>,
    elems: &mut Vec<String>,
    v: &'v Value,
    out: &mut FieldSet,
    all: bool,
) -> Result<(), String> {
    let shape = types.shape(names, v);
    if all && !elems.is_empty() {
        out.insert(elems);
    }
    match (&shape, v) {
        (Shape::Struct | Shape::Map, Value::Object(m)) => {
            for (k, c) in m {
                names.push(k);
                elems.push(field(k));
                set_walk(types, names, elems, c, out, all)?;
                let empty = c.is_null() || c.as_object().is_some_and(Map::is_empty);
                if empty || shape == Shape::Map {
                    out.insert(elems);
                }
                elems.pop();
                names.pop();
            }
        }
        (Shape::ListMap(_) | Shape::ListSet, Value::Array(items)) => {
            let mut seen = std::collections::BTreeSet::new();
            names.push("[]");
            for item in items {
                let pe = item_element(&shape, item);
                if !seen.insert(pe.clone()) {
                    return Err(format!(
                        "{}: duplicate entries for key {}",
                        display_path(elems),
                        display_path(std::slice::from_ref(&pe))
                    ));
                }
                elems.push(pe);
                if matches!(shape, Shape::ListMap(_)) {
                    set_walk(types, names, elems, item, out, all)?;
                }
                out.insert(elems);
                elems.pop();
            }
            names.pop();
        }
        _ => out.insert(elems),
    }
    Ok(())
}

/// What changed from `old` to `new`: (added or modified, removed), as structured-merge-diff's
/// comparison sees it.
pub fn compare(types: &Types, old: &Value, new: &Value) -> (FieldSet, FieldSet) {
    let mut changed = FieldSet::default();
    let mut removed = FieldSet::default();
    cmp_walk(
        types,
        &mut vec![],
        &mut vec![],
        Some(old),
        Some(new),
        &mut changed,
        &mut removed,
    );
    (changed, removed)
}

fn cmp_walk<'v>(
    types: &Types,
    names: &mut Vec<&'v str>,
    elems: &mut Vec<String>,
    old: Option<&'v Value>,
    new: Option<&'v Value>,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    match (old, new) {
        (None, None) => {}
        (Some(o), None) => {
            let _ = set_walk(types, names, elems, o, removed, true);
        }
        (o, Some(n)) => {
            let shape = types.shape(names, n);
            let old_shape = o.map(|o| types.shape(names, o));
            let container = !matches!(shape, Shape::Leaf);
            if !container || (old_shape.is_some() && old_shape.as_ref() != Some(&shape)) {
                if o != Some(n) && !elems.is_empty() {
                    changed.insert(elems);
                }
                return;
            }
            let empty = |v: &Value| {
                v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty)
            };
            if o.is_none() && !elems.is_empty() && !types.implicit(names) {
                changed.insert(elems);
            }
            if empty(n) && o.is_some_and(empty) {
                return;
            }
            match (&shape, n) {
                (Shape::Struct | Shape::Map, Value::Object(nm)) => {
                    let om = o.and_then(Value::as_object);
                    let mut keys: Vec<&String> = nm.keys().collect();
                    keys.extend(
                        om.into_iter()
                            .flat_map(|m| m.keys())
                            .filter(|k| !nm.contains_key(*k)),
                    );
                    for k in keys {
                        names.push(k);
                        elems.push(field(k));
                        cmp_walk(
                            types,
                            names,
                            elems,
                            om.and_then(|m| m.get(k)),
                            nm.get(k),
                            changed,
                            removed,
                        );
                        elems.pop();
                        names.pop();
                    }
                }
                (_, Value::Array(ni)) => {
                    let oi = o.and_then(Value::as_array);
                    names.push("[]");
                    let by_pe = |items: &'v [Value]| -> BTreeMap<String, &'v Value> {
                        items.iter().map(|i| (item_element(&shape, i), i)).collect()
                    };
                    let nmap = by_pe(ni);
                    let omap = oi.map(|a| by_pe(a)).unwrap_or_default();
                    for pe in nmap
                        .keys()
                        .chain(omap.keys().filter(|k| !nmap.contains_key(*k)))
                    {
                        elems.push(pe.clone());
                        let (ov, nv) = (omap.get(pe).copied(), nmap.get(pe).copied());
                        if matches!(shape, Shape::ListSet) {
                            match (ov, nv) {
                                (None, Some(_)) => changed.insert(elems),
                                (Some(_), None) => removed.insert(elems),
                                _ => {}
                            }
                        } else {
                            cmp_walk(types, names, elems, ov, nv, changed, removed);
                            if ov.is_none() {
                                changed.insert(elems);
                            }
                        }
                        elems.pop();
                    }
                    names.pop();
                }
                _ => {}
            }
        }
    }
}

/// The applied configuration merged into the live object: fields replaced, structs and maps
/// merged field by field, keyed lists item by item.
pub fn merge(types: &Types, live: &Value, config: &Value) -> Value {
    merge_walk(types, &mut vec![], live, config)
}

fn merge_walk<'v>(types: &Types, names: &mut Vec<&'v str>, live: &Value, cfg: &'v Value) -> Value {
    let shape = types.shape(names, cfg);
    match (&shape, live, cfg) {
        (Shape::Struct | Shape::Map, Value::Object(lm), Value::Object(cm)) => {
            let mut out = lm.clone();
            for (k, c) in cm {
                names.push(k);
                let merged = match lm.get(k) {
                    Some(l) => merge_walk(types, names, l, c),
                    None => c.clone(),
                };
                names.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Shape::ListMap(_) | Shape::ListSet, Value::Array(li), Value::Array(ci))
            if types.shape(names, live) == shape =>
        {
            let mut out = li.clone();
            names.push("[]");
            for c in ci {
                let pe = item_element(&shape, c);
                match out.iter().position(|l| item_element(&shape, l) == pe) {
                    Some(i) if matches!(shape, Shape::ListMap(_)) => {
                        out[i] = merge_walk(types, names, &out[i], c)
                    }
                    Some(_) => {}
                    None => out.push(c.clone()),
                }
            }
            names.pop();
            Value::Array(out)
        }
        _ => cfg.clone(),
    }
}

/// Removes every member of `set` from `obj`.
pub fn remove(obj: &mut Value, set: &FieldSet) {
    for (pe, c) in &set.children {
        match obj {
            Value::Object(m) => {
                let Some(f) = pe.strip_prefix("f:") else {
                    continue;
                };
                if c.member {
                    m.remove(f);
                } else if let Some(child) = m.get_mut(f) {
                    remove(child, c);
                }
            }
            Value::Array(items) => {
                let matches = |i: &Value| -> bool {
                    if let Some(k) = pe.strip_prefix("k:") {
                        let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                        // A key left out of the item matches its default (e.g. protocol TCP).
                        i.is_object() && keys.iter().all(|(n, v)| i.get(n).is_none_or(|x| x == v))
                    } else if let Some(v) = pe.strip_prefix("v:") {
                        serde_json::from_str::<Value>(v).is_ok_and(|v| &v == i)
                    } else {
                        false
                    }
                };
                if c.member {
                    items.retain(|i| !matches(i));
                } else {
                    for i in items.iter_mut().filter(|i| matches(i)) {
                        remove(i, c);
                    }
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    Apply,
    Update,
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: String,
    pub time: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    /// Entries are one per manager, operation and subresource (and version, for updates).
    fn same_owner(&self, manager: &str, op: Operation, api_version: &str, sub: &str) -> bool {
        self.manager == manager
            && self.operation == op
            && self.subresource == sub
            && (op == Operation::Apply || self.api_version == api_version)
    }

    /// How a conflict names this manager (apimachinery's `printManager`).
    pub fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// Reads `metadata.managedFields`. Malformed entries are an error (a real server answers 400
/// "invalid managedFields" rather than guess).
pub fn decode(managed: &Value) -> Result<Vec<Entry>, String> {
    let Some(list) = managed.as_array() else {
        return if managed.is_null() {
            Ok(vec![])
        } else {
            Err("managedFields must be a list".into())
        };
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let operation = match e["operation"].as_str() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                other => {
                    return Err(format!(
                        "operation must be Apply or Update, found {other:?}"
                    ))
                }
            };
            if !e["fieldsType"].is_null() && e["fieldsType"] != "FieldsV1" {
                return Err(format!(
                    "fieldsType must be FieldsV1, found {}",
                    e["fieldsType"]
                ));
            }
            Ok(Entry {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                subresource: s("subresource"),
                time: e["time"].as_str().map(String::from),
                fields: FieldSet::from_fields_v1(
                    e.get("fieldsV1").unwrap_or(&Value::Object(Map::new())),
                )?,
            })
        })
        .collect()
}

/// Writes `metadata.managedFields`, ordered as a real server orders them.
pub fn encode(entries: &[Entry]) -> Value {
    let mut sorted: Vec<&Entry> = entries.iter().filter(|e| !e.fields.is_empty()).collect();
    sorted.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("apiVersion".into(), Value::String(e.api_version.clone()));
                m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
                m.insert("fieldsV1".into(), e.fields.to_fields_v1());
                m.insert("manager".into(), Value::String(e.manager.clone()));
                let op = if e.operation == Operation::Apply {
                    "Apply"
                } else {
                    "Update"
                };
                m.insert("operation".into(), Value::String(op.into()));
                if !e.subresource.is_empty() {
                    m.insert("subresource".into(), Value::String(e.subresource.clone()));
                }
                if let Some(t) = &e.time {
                    m.insert("time".into(), Value::String(t.clone()));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// Which entries a write starts from: the request's own when it brings some (`[{}]` resets them),
/// the live object's otherwise — so clients that drop managedFields do not erase them.
pub(crate) fn base_entries(
    sent: &Value,
    live: &Value,
    subresource: bool,
) -> Result<Vec<Entry>, String> {
    if subresource {
        return decode(live);
    }
    if let Some(list) = sent.as_array() {
        if list.len() == 1 && list[0].as_object().is_some_and(Map::is_empty) {
            return Ok(vec![]);
        }
        if !list.is_empty() {
            return decode(sent);
        }
    }
    decode(live)
}

/// Fields no manager owns: identity and bookkeeping (apimachinery's strip set).
fn stripped() -> FieldSet {
    let mut s = FieldSet::default();
    for p in ["apiVersion", "kind"] {
        s.insert(&[field(p)]);
    }
    for p in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&[field("metadata"), field(p)]);
    }
    s
}

fn without_bookkeeping(set: &FieldSet, ignored: &FieldSet) -> FieldSet {
    let mut meta_member = FieldSet::default();
    meta_member.insert(&[field("metadata")]);
    set.recursive_difference(&stripped())
        .difference(&meta_member)
        .recursive_difference(ignored)
}

/// What a write is about: one kind, one version, one subresource.
pub struct Write<'a> {
    pub types: Types<'a>,
    pub api_version: &'a str,
    pub subresource: &'a str,
    /// Fields this endpoint resets (status on the main resource, all but status on /status).
    pub ignored: FieldSet,
    pub now: &'a str,
}

/// An ignored set naming top-level fields.
pub(crate) fn top_fields(names: &[&str]) -> FieldSet {
    let mut s = FieldSet::default();
    for n in names {
        s.insert(&[field(n)]);
    }
    s
}

/// Ownership after a non-apply write (create, update, non-apply patch) by `manager`: it owns what
/// it changed, others lose what it changed or removed.
pub fn update(
    w: &Write,
    mut entries: Vec<Entry>,
    old: &Value,
    new: &Value,
    manager: &str,
) -> Vec<Entry> {
    let (changed, removed) = compare(&w.types, old, new);
    let changed = without_bookkeeping(&changed, &w.ignored);
    let removed = without_bookkeeping(&removed, &w.ignored);
    for e in entries.iter_mut() {
        if !e.same_owner(manager, Operation::Update, w.api_version, w.subresource) {
            e.fields = e.fields.difference(&changed).difference(&removed);
        }
    }
    let mine = entries
        .iter()
        .position(|e| e.same_owner(manager, Operation::Update, w.api_version, w.subresource));
    if !changed.is_empty() {
        let i = match mine {
            Some(i) => i,
            None => {
                entries.push(Entry {
                    manager: manager.into(),
                    operation: Operation::Update,
                    api_version: w.api_version.into(),
                    subresource: w.subresource.into(),
                    time: None,
                    fields: FieldSet::default(),
                });
                entries.len() - 1
            }
        };
        let e = &mut entries[i];
        let mut f = e.fields.clone();
        f.union(&changed);
        e.fields = f.difference(&removed);
        e.time = Some(w.now.into());
    } else if let Some(i) = mine {
        entries[i].fields = entries[i].fields.difference(&removed);
    }
    entries.retain(|e| !e.fields.is_empty());
    entries
}

/// A field another manager owns and an apply would change.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub path: String,
}

/// The 409's message, worded as apimachinery's `getConflictMessage`.
pub(crate) fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.path
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.path);
    }
    let mut lines = vec![];
    for (m, paths) in by_manager {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(paths.iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[derive(Debug, PartialEq)]
pub enum ApplyError {
    Conflicts(Vec<Conflict>),
    /// The configuration is not a valid object of its kind (e.g. duplicate list keys).
    Invalid(String),
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A server-side apply of `config` by `manager` onto `live` (an empty object when creating).
/// Returns the new object (without managedFields) and the new entries.
pub fn apply(
    w: &Write,
    entries: Vec<Entry>,
    live: &Value,
    config: &Value,
    manager: &str,
    force: bool,
) -> Result<(Value, Vec<Entry>), ApplyError> {
    match apply_once(w, entries.clone(), live, config, manager, force) {
        Err(ApplyError::Conflicts(conflicts)) if manager == "kubectl" && !force => {
            // kubectl's own server-side apply takes over what its client-side apply set
            // (the fields of the last-applied annotation that still hold their values).
            let allowed = last_applied_fields(w, live);
            let rest: Vec<Conflict> = conflicts
                .iter()
                .filter(|c| !allowed.iter().any(|p| display_path(p) == c.path))
                .cloned()
                .collect();
            if !rest.is_empty() {
                return Err(ApplyError::Conflicts(rest));
            }
            apply_once(w, entries, live, config, manager, true)
                .map(|(o, e)| (sync_last_applied(live, o, config), e))
        }
        Ok((o, e)) if manager == "kubectl" => Ok((sync_last_applied(live, o, config), e)),
        other => other,
    }
}

fn last_applied_fields(w: &Write, live: &Value) -> Vec<Vec<String>> {
    let Some(text) = live["metadata"]["annotations"][LAST_APPLIED].as_str() else {
        return vec![];
    };
    let Ok(last) = serde_json::from_str::<Value>(text) else {
        return vec![];
    };
    let Ok(set) = to_field_set(&w.types, &last) else {
        return vec![];
    };
    let (changed, removed) = compare(&w.types, &last, live);
    set.difference(&changed).difference(&removed).paths()
}

/// kubectl's server-side apply keeps the client-side annotation in step, so that a later
/// client-side apply still knows what was applied.
fn sync_last_applied(live: &Value, mut obj: Value, config: &Value) -> Value {
    if live["metadata"]["annotations"][LAST_APPLIED].is_string() {
        let mut last = config.clone();
        if let Some(a) = last["metadata"]["annotations"].as_object_mut() {
            a.remove(LAST_APPLIED);
            if a.is_empty() {
                if let Some(m) = last["metadata"].as_object_mut() {
                    m.remove("annotations");
                }
            }
        }
        obj["metadata"]["annotations"][LAST_APPLIED] = Value::String(last.to_string());
    }
    obj
}

fn apply_once(
    w: &Write,
    mut entries: Vec<Entry>,
    live: &Value,
    config: &Value,
    manager: &str,
    force: bool,
) -> Result<(Value, Vec<Entry>), ApplyError> {
    let set = to_field_set(&w.types, config).map_err(ApplyError::Invalid)?;
    let set = without_bookkeeping(&set, &w.ignored);
    let mut merged = merge(&w.types, live, config);
    let mine = entries
        .iter()
        .position(|e| e.same_owner(manager, Operation::Apply, w.api_version, w.subresource));
    let last = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let entry = Entry {
        manager: manager.into(),
        operation: Operation::Apply,
        api_version: w.api_version.into(),
        subresource: w.subresource.into(),
        time: mine.and_then(|i| entries[i].time.clone()),
        fields: set,
    };
    let mine = match mine {
        Some(i) => {
            entries[i] = entry;
            i
        }
        None => {
            entries.push(entry);
            entries.len() - 1
        }
    };
    // What this manager applied before and no longer does goes, unless someone else owns it.
    let mut owned = FieldSet::default();
    for e in &entries {
        owned.union(&e.fields);
    }
    remove(&mut merged, &last.difference(&owned));

    let (changed, removed) = compare(&w.types, live, &merged);
    let changed = without_bookkeeping(&changed, &w.ignored);
    let removed = without_bookkeeping(&removed, &w.ignored);
    let mut conflicts = vec![];
    for (i, e) in entries.iter().enumerate() {
        if i != mine {
            for p in e.fields.intersection(&changed).paths() {
                conflicts.push(Conflict {
                    manager: e.display(),
                    path: display_path(&p),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if i != mine {
            e.fields = e.fields.difference(&changed).difference(&removed);
        }
    }
    if merged != *live {
        entries[mine].time = Some(w.now.into());
    }
    entries.retain(|e| {
        !e.fields.is_empty() || (e.manager == manager && e.operation == Operation::Apply)
    });
    Ok((merged, entries))
}

/// The manager of a write without `fieldManager`: the User-Agent up to its first `/`, printable
/// characters only, at most 128 bytes (apiserver's `prefixFromUserAgent`).
pub(crate) fn manager_from_user_agent(ua: &str) -> String {
    let mut out = String::new();
    for c in ua.split('/').next().unwrap_or_default().chars() {
        if c.is_control() {
            continue;
        }
        if out.len() >= 128 {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w(types: Types<'_>) -> Write<'_> {
        Write {
            types,
            api_version: "cilium.io/v2",
            subresource: "",
            ignored: top_fields(&["status"]),
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn pool_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "blocks": {"type": "array", "items": {"type": "object", "properties": {
                    "cidr": {"type": "string"}, "start": {"type": "string"}, "stop": {"type": "string"}}}},
                "disabled": {"type": "boolean"},
                "serviceSelector": {"type": "object", "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
            "status": {"type": "object"}}})
    }

    fn pool(blocks: &[&str]) -> Value {
        json!({"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool", "metadata": {"name": "p"},
            "spec": {"blocks": blocks.iter().map(|c| json!({"cidr": c})).collect::<Vec<_>>()}})
    }

    #[test]
    fn fields_v1_round_trips_with_dot_for_members_with_children() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}});
        let s = FieldSet::from_fields_v1(&v).unwrap();
        assert_eq!(s.to_fields_v1(), v);
        assert!(s.contains(&["f:metadata".into(), "f:labels".into()]));
        assert!(!s.contains(&["f:metadata".into()]));
        assert_eq!(
            display_path(&[
                "f:spec".into(),
                "f:ports".into(),
                "k:{\"port\":80,\"protocol\":\"TCP\"}".into(),
                "f:port".into()
            ]),
            ".spec.ports[port=80,protocol=\"TCP\"].port"
        );
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
    }

    #[test]
    fn second_applier_conflicts_on_an_atomic_list_and_force_takes_it() {
        let s = pool_schema();
        let w = w(Types::crd(&s));
        let (a, ea) = apply(
            &w,
            vec![],
            &json!({}),
            &pool(&["10.0.0.0/24"]),
            "bar-a",
            false,
        )
        .unwrap();
        assert_eq!(
            ea[0].fields.to_fields_v1(),
            json!({"f:spec": {"f:blocks": {}}})
        );
        let err = apply(&w, ea.clone(), &a, &pool(&["10.0.1.0/24"]), "bar-b", false).unwrap_err();
        let ApplyError::Conflicts(c) = err else {
            panic!()
        };
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 1 conflict: conflict with \"bar-a\": .spec.blocks"
        );
        // The same value is no conflict: both own it.
        let (_, shared) =
            apply(&w, ea.clone(), &a, &pool(&["10.0.0.0/24"]), "bar-b", false).unwrap();
        assert_eq!(shared.len(), 2);
        let (b, eb) = apply(&w, ea, &a, &pool(&["10.0.1.0/24"]), "bar-b", true).unwrap();
        assert_eq!(b["spec"]["blocks"][0]["cidr"], "10.0.1.0/24");
        assert_eq!(eb.len(), 1, "bar-a lost its only field: {eb:?}");
        assert_eq!(eb[0].manager, "bar-b");
    }

    #[test]
    fn reapply_without_a_field_removes_it_unless_another_manager_owns_it() {
        let s = pool_schema();
        let w = w(Types::crd(&s));
        let mut cfg = pool(&["10.0.0.0/24"]);
        cfg["spec"]["disabled"] = json!(true);
        cfg["metadata"]["labels"] = json!({"a": "1", "b": "2"});
        let (o, e) = apply(&w, vec![], &json!({}), &cfg, "x", false).unwrap();
        // Another manager (an update) sets label c and takes label b.
        let mut o2 = o.clone();
        o2["metadata"]["labels"]["c"] = json!("3");
        o2["metadata"]["labels"]["b"] = json!("22");
        let e = update(&w, e, &o, &o2, "kubectl-edit");
        let (o3, e) = apply(&w, e, &o2, &pool(&["10.0.0.0/24"]), "x", false).unwrap();
        assert_eq!(o3["spec"].get("disabled"), None);
        assert_eq!(o3["metadata"]["labels"], json!({"b": "22", "c": "3"}));
        assert_eq!(
            e.iter()
                .find(|e| e.manager == "x")
                .unwrap()
                .fields
                .to_fields_v1(),
            json!({"f:spec": {"f:blocks": {}}})
        );
    }

    #[test]
    fn update_records_added_maps_and_lists_as_members() {
        let t = Types::builtin();
        let w = Write {
            api_version: "v1",
            ..w(t)
        };
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"app": "x"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}], "selector": {"app": "x"}}});
        let e = update(&w, vec![], &json!({}), &svc, "kubectl-create");
        assert_eq!(
            e[0].fields.to_fields_v1(),
            json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                "f:selector": {}, "f:type": {}}})
        );
        // An apply that changes a port's target conflicts with the creator, named with its version.
        let cfg = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": 9090}]}});
        let Err(ApplyError::Conflicts(c)) = apply(&w, e, &svc, &cfg, "bar-a", false) else {
            panic!()
        };
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 1 conflict: conflict with \"kubectl-create\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort"
        );
    }

    #[test]
    fn conflicts_with_several_managers_are_grouped() {
        let c = vec![
            Conflict {
                manager: "\"b\"".into(),
                path: ".spec.x".into(),
            },
            Conflict {
                manager: "\"a\" using v1".into(),
                path: ".spec.y".into(),
            },
            Conflict {
                manager: "\"b\"".into(),
                path: ".spec.z".into(),
            },
        ];
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 3 conflicts: conflicts with \"a\" using v1:\n- .spec.y\nconflicts with \"b\":\n- .spec.x\n- .spec.z"
        );
    }

    #[test]
    fn kubectl_takes_over_its_client_side_apply_fields() {
        let t = Types::builtin();
        let w = Write {
            api_version: "v1",
            ignored: FieldSet::default(),
            ..w(t)
        };
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        let last = cm.to_string();
        cm["metadata"]["annotations"] = json!({LAST_APPLIED: last});
        let e = update(&w, vec![], &json!({}), &cm, "kubectl-client-side-apply");
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "w"}});
        let Err(ApplyError::Conflicts(c)) = apply(&w, e.clone(), &cm, &cfg, "other", false) else {
            panic!()
        };
        assert_eq!(c[0].manager, "\"kubectl-client-side-apply\" using v1");
        let (o, _) = apply(&w, e, &cm, &cfg, "kubectl", false).unwrap();
        assert_eq!(o["data"]["k"], "w");
        assert!(o["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap()
            .contains("\"w\""));
    }

    #[test]
    fn duplicate_keys_in_an_applied_list_are_invalid() {
        let t = Types::builtin();
        let cfg = json!({"spec": {"ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]}});
        assert!(to_field_set(&t, &cfg)
            .unwrap_err()
            .contains("duplicate entries"));
    }

    #[test]
    fn user_agent_prefix() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.33.0 (linux/amd64)"),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(""), "");
        assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn obj() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![Just(json!(1)), Just(json!("s")), Just(json!(true))];
            proptest::collection::btree_map("[a-d]", leaf, 0..4)
                .prop_map(|m| json!({"spec": m, "metadata": {"labels": {"x": "1"}}}))
        }

        proptest! {
            /// Applying a config makes every field it sets hold the config's value, and the
            /// applier owns exactly the config's fields.
            #[test]
            fn apply_sets_what_it_owns(live in obj(), cfg in obj(), force in any::<bool>()) {
                let t = Types::builtin();
                let w = Write { api_version: "v1", ignored: FieldSet::default(), subresource: "", types: t, now: "t" };
                let e = update(&w, vec![], &json!({}), &live, "creator");
                match apply(&w, e, &live, &cfg, "app", force) {
                    Ok((o, e)) => {
                        for (k, v) in cfg["spec"].as_object().unwrap() {
                            prop_assert_eq!(&o["spec"][k], v);
                        }
                        let mine = e.iter().find(|e| e.manager == "app").unwrap();
                        prop_assert_eq!(&mine.fields, &to_field_set(&t, &cfg).unwrap().recursive_difference(&stripped()));
                        // Nobody else owns a field the applier changed.
                        let (changed, _) = compare(&t, &live, &o);
                        for other in e.iter().filter(|e| e.manager != "app") {
                            prop_assert!(other.fields.intersection(&changed).is_empty());
                        }
                    }
                    Err(ApplyError::Conflicts(c)) => {
                        prop_assert!(!force);
                        for c in c {
                            let k = c.path.trim_start_matches(".spec.");
                            prop_assert_ne!(&live["spec"][k], &cfg["spec"][k]);
                        }
                    }
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
            }

            #[test]
            fn fields_v1_round_trip(a in obj()) {
                let s = to_field_set(&Types::builtin(), &a).unwrap();
                prop_assert_eq!(FieldSet::from_fields_v1(&s.to_fields_v1()).unwrap(), s);
            }
        }
    }
}
