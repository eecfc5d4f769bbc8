//! The local introspection socket of `lbctl serve` and its client, `lbctl debug …` (the analogue
//! of `cilium-dbg shell -- db/show …`). One request per connection: a topic name on one line;
//! the answer is one JSON document.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::output::{Render, Style};

/// Topics a running `serve` answers.
pub(crate) const TOPICS: &[&str] = &["l2-announce", "devices", "ipam"];

/// What `serve` exposes; each topic is a JSON value, or `None` when that part is not running.
pub trait Provider: Send + Sync {
    fn topic(&self, name: &str) -> Option<serde_json::Value>;
}

#[derive(Debug, thiserror::Error)]
pub enum DebugError {
    #[error("no lbctl serve is listening on {0} ({1}); start `lbctl serve`, or pass --debug-socket PATH")]
    Connect(PathBuf, std::io::Error),
    #[error("talking to {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Remote(String),
    #[error("bad answer from {0}: {1}")]
    Decode(PathBuf, serde_json::Error),
}

/// The socket path `serve` and `debug` agree on without flags: `/run/lbctl/debug.sock` for root,
/// else under `$XDG_RUNTIME_DIR`, else the temp directory.
pub(crate) fn default_socket() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/run/lbctl/debug.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("lbctl/debug.sock"),
        _ => std::env::temp_dir().join(format!("lbctl-{}/debug.sock", unsafe { libc::geteuid() })),
    }
}

/// Makes `dir` ours alone: created 0700 when missing; when present it must be a real
/// directory (not a link), owned by us, that nobody else may write to. Otherwise another user
/// who made it first could put their own socket where `lbctl debug` looks.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}", dir.display()),
        ))
    };
    if !meta.file_type().is_dir() {
        return refuse("not a directory (a symlink or a file)".into());
    }
    if meta.uid() != me {
        return refuse(format!("owned by uid {}, not by us ({me})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "others may write to it (mode {:o}); remove it or chmod 700",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// [`private_dir`]'s checks without creating anything.
fn check_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.file_type().is_dir() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of ours (owner uid {}, mode {:o}): refusing to trust its socket",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Clears the way for binding `path`: nothing there, or a socket of ours nobody answers on (left
/// by a killed serve). Anything else (a file, a link, someone else's socket) is refused, never
/// deleted.
fn clear_stale(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.file_type().is_socket() || meta.uid() != me {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "refusing to replace {}: not a socket of ours (remove it, or pick another --debug-socket)",
                path.display()
            ),
        ));
    }
    Ok(true)
}

/// Binds the socket (replacing a stale one of ours) and answers until `shutdown` fires. The
/// default path's directory is made private first (see [`private_dir`]).
pub async fn serve(
    path: &Path,
    provider: Arc<dyn Provider>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if path == default_socket() {
            private_dir(dir)?;
        } else if !dir.as_os_str().is_empty() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    // A socket file left by a killed serve would make bind fail; nobody answers on it.
    if clear_stale(path)? && UnixStream::connect(path).await.is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path)?;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            conn = listener.accept() => {
                let Ok((stream, _)) = conn else { continue };
                let provider = provider.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, provider).await;
                });
            }
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

async fn answer(stream: UnixStream, provider: Arc<dyn Provider>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r.take(256)).read_line(&mut line).await?;
    let topic = line.trim();
    let doc = match provider.topic(topic) {
        Some(v) => serde_json::json!({"ok": v}),
        None if TOPICS.contains(&topic) => {
            serde_json::json!({"error": format!("{topic}: that part of serve is not running here")})
        }
        None => {
            serde_json::json!({"error": format!("unknown topic {topic:?}; known: {}", TOPICS.join(", "))})
        }
    };
    w.write_all(doc.to_string().as_bytes()).await?;
    w.shutdown().await
}

/// Asks a running `serve` for one topic.
pub async fn query(path: &Path, topic: &str) -> Result<serde_json::Value, DebugError> {
    // At the default place, only a serve of ours may answer (see `private_dir`).
    if path == default_socket() {
        if let Some(dir) = path.parent().filter(|d| d.exists()) {
            if let Err(e) = check_private(dir) {
                return Err(DebugError::Connect(path.into(), e));
            }
        }
    }
    let mut s = UnixStream::connect(path)
        .await
        .map_err(|e| DebugError::Connect(path.into(), e))?;
    s.write_all(format!("{topic}\n").as_bytes())
        .await
        .map_err(|e| DebugError::Io(path.into(), e))?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)
        .await
        .map_err(|e| DebugError::Io(path.into(), e))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&buf).map_err(|e| DebugError::Decode(path.into(), e))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(DebugError::Remote(e.to_string()));
    }
    Ok(v["ok"].take())
}

/// `lbctl debug TOPIC`: asks the running serve and prints its answer. What serve says it
/// cannot answer exits 1; no serve to ask exits 3.
pub async fn cmd(
    args: &crate::cli::DebugArgs,
    printer: &crate::output::Printer,
) -> anyhow::Result<crate::output::Exit> {
    use crate::output::{CodedError, Exit};
    let path = args.socket.clone().unwrap_or_else(default_socket);
    let topic = args.topic.name();
    let value = query(&path, topic).await.map_err(|e| match e {
        DebugError::Remote(m) => CodedError {
            code: Exit::Problem,
            message: m,
        },
        other => CodedError::unreachable(other.to_string()),
    })?;
    printer.emit(&Answer {
        topic,
        value: &value,
    })?;
    Ok(Exit::Ok)
}

/// A topic's answer as `lbctl debug` prints it: JSON/YAML give the document as serve sent it;
/// the table shows each topic's chosen columns, and `-o wide` every field of its rows.
#[derive(serde::Serialize)]
#[serde(transparent)]
pub(crate) struct Answer<'a> {
    #[serde(skip)]
    pub topic: &'a str,
    pub value: &'a Value,
}

impl Render for Answer<'_> {
    fn human(&self, wide: bool, style: Style) -> String {
        let columns: &[&str] = match self.topic {
            "l2-announce" => &[
                "ip",
                "interface",
                "service",
                "leading_for_s",
                "valid",
                "served",
                "mismatch",
                "requests_seen",
                "answered",
                "gratuitous_sent",
            ],
            "devices" => &["name", "index", "mac", "operstate", "selected", "reason"],
            "ipam" => return ipam_tables(self.value, wide, style),
            _ => &[],
        };
        match self.value {
            Value::Array(rows) if rows.is_empty() => format!("no {} entries\n", self.topic),
            Value::Array(rows) => rows_table(rows, columns, wide, style, column_header),
            Value::Object(_) => rows_table(
                std::slice::from_ref(self.value),
                columns,
                wide,
                style,
                column_header,
            ),
            other => format!("{}\n", cell(other)),
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        Value::Number(n) if n.is_f64() => format!("{:.1}", n.as_f64().unwrap_or_default()),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Whether a field fits a cell: a scalar or a list of scalars (nested rows get tables of their
/// own, as IPAM's pools do).
fn is_flat(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().all(|i| !i.is_object() && !i.is_array()),
        _ => true,
    }
}

fn column_header(key: &str) -> String {
    key.replace('_', " ").to_uppercase()
}

/// One row per element: `columns` first, then (wide, or when no columns are chosen for a topic
/// this version does not know) every other scalar field the rows carry, in the order met.
fn rows_table(
    rows: &[Value],
    columns: &[&str],
    wide: bool,
    style: Style,
    header: impl Fn(&str) -> String,
) -> String {
    let mut keys: Vec<&str> = columns.to_vec();
    if wide || columns.is_empty() {
        for r in rows {
            for (k, v) in r.as_object().into_iter().flatten() {
                if !keys.contains(&k.as_str()) && is_flat(v) {
                    keys.push(k);
                }
            }
        }
    }
    let mut t = style.plain_table();
    t.set_header(keys.iter().map(|c| header(c)));
    for r in rows {
        t.add_row(keys.iter().map(|c| cell(&r[*c])));
    }
    format!("{t}\n")
}

/// The IPAM topic as tables: the engine's counts on one row, then one row per pool.
fn ipam_tables(v: &Value, wide: bool, style: Style) -> String {
    const SUMMARY: &[&str] = &[
        "leader",
        "services_matching",
        "services_unsatisfied",
        "conflicting_pools",
        "invalid_pools",
    ];
    const POOL: &[&str] = &["name", "total", "used", "available"];
    let mut out = rows_table(std::slice::from_ref(v), SUMMARY, wide, style, column_header);
    out.push('\n');
    match v["pools"].as_array() {
        Some(pools) if !pools.is_empty() => {
            out.push_str(&rows_table(pools, POOL, wide, style, |k| match k {
                "name" => "POOL".into(),
                k => column_header(k),
            }))
        }
        _ => out.push_str("no pools\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{OutputFormat, Printer};

    struct Fixed;
    impl Provider for Fixed {
        fn topic(&self, name: &str) -> Option<serde_json::Value> {
            (name == "devices").then(|| serde_json::json!([{"name": "eth0"}]))
        }
    }

    #[test]
    fn ipam_renders_as_tables() {
        let v = serde_json::json!({
            "leader": true, "conflicting_pools": 0, "invalid_pools": 1,
            "services_matching": 3, "services_unsatisfied": 1,
            "pools": [{"name": "lan-vips", "total": "51", "available": "49", "used": "2"}],
        });
        let printer = |format| Printer::new(format, false);
        let answer = Answer {
            topic: "ipam",
            value: &v,
        };
        let text = printer(OutputFormat::Table).render(&answer).unwrap();
        assert!(!text.contains('{') && !text.contains('"'), "{text}");
        let lines: Vec<&str> = text.lines().map(str::trim_start).collect();
        assert!(lines[0].starts_with("LEADER"), "{text}");
        assert!(lines[1].starts_with("true"), "{text}");
        let pool = lines.iter().position(|l| l.starts_with("POOL")).unwrap();
        let row: Vec<&str> = lines[pool + 1].split_whitespace().collect();
        assert_eq!(row, ["lan-vips", "51", "2", "49"], "{text}");
        let none = serde_json::json!({"leader": false, "pools": []});
        let text = printer(OutputFormat::Table)
            .render(&Answer {
                topic: "ipam",
                value: &none,
            })
            .unwrap();
        assert!(text.ends_with("no pools\n"), "{text}");
        // JSON stays JSON.
        let json = printer(OutputFormat::Json).render(&answer).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap(), v);
        let yaml = printer(OutputFormat::Yaml).render(&answer).unwrap();
        assert_eq!(
            serde_saphyr::from_str::<serde_json::Value>(&yaml).unwrap(),
            v
        );
    }

    #[tokio::test]
    async fn never_deletes_what_is_not_a_stale_socket_of_ours() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("precious");
        std::fs::write(&file, "data").unwrap();
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        for path in [&file, &link] {
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let e = serve(path, Arc::new(Fixed), rx).await.unwrap_err();
            assert!(e.to_string().contains("refusing to replace"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // A socket of ours nobody answers on is stale: replaced.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let p = stale.clone();
        let server = tokio::spawn(async move { serve(&p, Arc::new(Fixed), rx).await });
        let mut answered = false;
        for _ in 0..100 {
            if query(&stale, "devices").await.is_ok() {
                answered = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(answered);
        tx.send(true).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn private_dirs_are_ours_alone() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let fresh = base.path().join("fresh");
        private_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        private_dir(&fresh).unwrap();
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&open).unwrap_err().to_string();
        assert!(e.contains("others may write"), "{e}");
        assert!(check_private(&open).is_err());
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let e = private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let theirs = base.path().join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let e = private_dir(&theirs).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
    }

    #[tokio::test]
    async fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let p = path.clone();
        let server = tokio::spawn(async move { serve(&p, Arc::new(Fixed), rx).await });
        for _ in 0..100 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(query(&path, "devices").await.unwrap()[0]["name"], "eth0");
        let e = query(&path, "ipam").await.unwrap_err().to_string();
        assert!(e.contains("not running here"), "{e}");
        let e = query(&path, "bogus").await.unwrap_err().to_string();
        assert!(e.contains("unknown topic"), "{e}");
        tx.send(true).unwrap();
        server.await.unwrap().unwrap();
        assert!(!path.exists(), "socket removed on shutdown");
        let e = query(&path, "devices").await.unwrap_err();
        assert!(matches!(e, DebugError::Connect(..)), "{e}");
    }
}
