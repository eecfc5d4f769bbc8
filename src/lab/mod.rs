//! The lab: an embedded, in-memory Kubernetes API server that kubectl and kube-rs use unmodified.

mod auth;
mod decode;
mod defaults;
mod discovery;
mod http;
mod labels;
pub mod limits;
mod paging;
mod patch;
mod protobuf;
mod query;
pub mod rbac;
pub mod registry;
pub mod scenario;
mod schema;
mod ssa;
pub mod store;
pub mod table;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use serde_json::Value;

pub use scenario::Scenario;

use registry::ResourceType;
use store::Store;

/// One request as the lab saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub user_agent: String,
}

impl RequestRecord {
    /// The Kubernetes verb this request was.
    pub fn verb(&self) -> &'static str {
        let watch = self
            .query
            .split('&')
            .any(|kv| kv == "watch=true" || kv == "watch=1");
        match self.method.as_str() {
            "GET" if watch => "watch",
            "GET" => "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "other",
        }
    }
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

/// A fault to inject: the next `count` requests whose method matches (if given) and whose path
/// contains `path_contains` get `status` (if given) after `delay` (if given).
#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: Option<u16>,
    pub delay: Option<Duration>,
    pub count: usize,
}

impl From<&crate::cli::FaultSpec> for Fault {
    fn from(f: &crate::cli::FaultSpec) -> Fault {
        Fault {
            method: f.method.clone(),
            path_contains: f.path_contains.clone(),
            status: Some(f.status),
            delay: None,
            count: f.count,
        }
    }
}

/// The most recent requests, and how many there were in all (so readers can resume by count).
#[derive(Default)]
struct RequestLog {
    records: std::collections::VecDeque<RequestRecord>,
    total: usize,
}

pub struct LabState {
    pub addr: SocketAddr,
    store: Mutex<Store>,
    allocators: Mutex<defaults::Allocators>,
    log: Mutex<RequestLog>,
    limits: Mutex<limits::Limits>,
    faults: Mutex<Vec<Fault>>,
    cut_watches: tokio::sync::watch::Sender<u64>,
    builtins: Vec<ResourceType>,
    /// Signs the service-account tokens this lab issues.
    token_key: ring::hmac::Key,
}

impl LabState {
    fn new(addr: SocketAddr) -> Self {
        LabState {
            addr,
            store: Mutex::new({
                let l = limits::Limits::default();
                let mut s = Store::default();
                s.set_history_limits(l.history_events, l.history_bytes);
                s
            }),
            allocators: Mutex::new(Default::default()),
            log: Mutex::new(RequestLog::default()),
            limits: Mutex::new(limits::Limits::default()),
            faults: Mutex::new(vec![]),
            cut_watches: tokio::sync::watch::channel(0).0,
            builtins: registry::builtins(),
            token_key: auth::new_token_key(),
        }
    }

    /// Built-in kinds plus what every stored CRD defines.
    pub fn types(&self) -> Vec<ResourceType> {
        let mut out = self.builtins.clone();
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        for crd in store.list(
            &(
                "apiextensions.k8s.io".into(),
                "customresourcedefinitions".into(),
            ),
            None,
        ) {
            // A CRD cannot take over a built-in resource: the built-in is served, as on a real
            // server, and discovery lists it once.
            out.extend(registry::from_crd(crd).into_iter().filter(|t| {
                !self
                    .builtins
                    .iter()
                    .any(|b| b.group == t.group && b.plural == t.plural)
            }));
        }
        out
    }

    fn openapi_hash(&self) -> String {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        format!(
            "{:016X}",
            store.count(&(
                "apiextensions.k8s.io".into(),
                "customresourcedefinitions".into()
            )) as u64
                * 0x9E37_79B9
                + 1
        )
    }

    fn log(&self, r: RequestRecord) {
        let limit = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .request_log;
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.total += 1;
        if limit == 0 {
            log.records.clear();
            return;
        }
        log.records.push_back(r);
        while log.records.len() > limit {
            log.records.pop_front();
        }
    }

    fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let i = faults.iter().position(|f| {
            f.count > 0
                && path.contains(&f.path_contains)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        })?;
        faults[i].count -= 1;
        let f = faults[i].clone();
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error("scenario {scenario}: {kind} {name:?}: {message}")]
    Load {
        scenario: String,
        kind: String,
        name: String,
        message: String,
    },
    #[error("cannot start the lab's runtime: {0}")]
    Runtime(std::io::Error),
}

/// A running lab. Dropping it stops the server.
pub struct Lab {
    state: Arc<LabState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lab {
    /// Starts the lab on its own thread and runtime, so it works from sync and async callers alike.
    pub fn start(listen: SocketAddr, scenarios: &[Scenario]) -> Result<Lab, LabError> {
        let std_listener =
            std::net::TcpListener::bind(listen).map_err(|e| LabError::Bind(listen, e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| LabError::Bind(listen, e))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| LabError::Bind(listen, e))?;
        let state = Arc::new(LabState::new(addr));
        state.bootstrap();
        for s in scenarios {
            state.load(s)?;
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lbctl-lab")
            .enable_all()
            .build()
            .map_err(LabError::Runtime)?;
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("lbctl-lab".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                        let st = st.clone();
                        async move { http::handle_catching_panics(st, req).await }
                    });
                    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let mut stop_rx = stop_rx;
                        let _ = stop_rx.wait_for(|s| *s).await;
                    });
                    // Graceful shutdown waits for open connections, and a client's watcher
                    // reconnects forever; so stop hard shortly after being asked to stop.
                    tokio::select! {
                        _ = serve => {}
                        _ = async {
                            let _ = rx.await;
                            let _ = stop_tx.send(true);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        } => {}
                    }
                });
                // Open watches hold tasks; don't wait for them on shutdown.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(LabError::Runtime)?;
        Ok(Lab {
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// One request through the lab's handler in-process, without a socket: the fuzz targets
    /// drive the lab this way (the response body of a watch streams until it is dropped).
    #[doc(hidden)]
    pub async fn handle(&self, req: axum::extract::Request) -> axum::response::Response {
        http::handle(self.state.clone(), req).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.state.addr)
    }

    /// A kubeconfig pointing at this lab (context `lbctl-lab`, namespace `default`).
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lbctl-lab\n  cluster:\n    server: {}\ncontexts:\n- name: lbctl-lab\n  context:\n    cluster: lbctl-lab\n    user: lbctl-lab\n    namespace: default\ncurrent-context: lbctl-lab\nusers:\n- name: lbctl-lab\n  user: {{}}\n",
            self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A kube client for this lab.
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        // The URL is built from a socket address, so it always parses.
        let uri: axum::http::Uri = self.url().parse().unwrap_or_default();
        let mut cfg = kube::Config::new(uri);
        cfg.default_namespace = "default".into();
        kube::Client::try_from(cfg)
    }

    /// The requests still held (the most recent, up to the request-log limit).
    pub fn requests(&self) -> Vec<RequestRecord> {
        let log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.records.iter().cloned().collect()
    }

    /// Requests after the first `from` ever made (cheap to poll: clones only the new ones), and
    /// the count to resume from. Those the request-log limit already dropped are skipped.
    pub fn requests_since(&self, from: usize) -> (Vec<RequestRecord>, usize) {
        let log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        let first_held = log.total - log.records.len();
        let new = log
            .records
            .iter()
            .skip(from.saturating_sub(first_held))
            .cloned()
            .collect();
        (new, log.total)
    }

    /// How many requests the lab has served (held or not).
    pub fn request_count(&self) -> usize {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .total
    }

    pub fn clear_requests(&self) {
        let mut log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.records.clear();
    }

    /// Sets the lab's memory bounds (watch history, request log).
    pub fn set_limits(&self, l: limits::Limits) {
        *self.state.limits.lock().unwrap_or_else(|p| p.into_inner()) = l;
        self.state
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_history_limits(l.history_events, l.history_bytes);
        let mut log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        while log.records.len() > l.request_log {
            log.records.pop_front();
        }
    }

    /// What the lab holds beyond its objects.
    pub fn usage(&self) -> limits::Usage {
        let (history_events, history_bytes) = self
            .state
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .history_usage();
        limits::Usage {
            history_events,
            history_bytes,
            request_log: self
                .state
                .log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .records
                .len(),
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.state
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// Closes every open watch, as an API server restart or a load balancer timeout would.
    pub fn cut_watches(&self) {
        self.state.cut_watches.send_modify(|n| *n += 1);
    }

    /// Drops the event history: watches from any earlier resourceVersion get 410 Gone.
    pub fn expire_resource_versions(&self) {
        self.state
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .compact();
    }

    /// Loads more objects, as a scenario does.
    pub fn load(&self, s: &Scenario) -> Result<(), LabError> {
        self.state.load(s)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cut_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl LabState {
    /// What every cluster has: the system namespaces, the `default/kubernetes` Service and our CRDs' group.
    fn bootstrap(self: &Arc<Self>) {
        let ns = |n: &str| serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}});
        for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = self.create_object(ns(n));
        }
        let _ = self.create_object(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }));
        for o in defaults::bootstrap_rbac() {
            let _ = self.create_object(o);
        }
    }

    fn create_object(self: &Arc<Self>, obj: Value) -> Result<Value, http::ApiError> {
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
        let kind = obj["kind"].as_str().unwrap_or_default();
        let rt = self
            .types()
            .into_iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .ok_or_else(|| http::ApiError::UnknownKind {
                kind: kind.into(),
                api_version: av.into(),
            })?;
        let ns = if rt.namespaced {
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let status = obj.get("status").cloned();
        let (mut created, _) = http::create_value(self, &rt, &ns, obj)?;
        // Scenarios describe state, status included (e.g. a satisfied Service or a held lease).
        if let Some(st) = status {
            if rt.status_subresource {
                created["status"] = st;
                defaults::round_trip(&rt.group, &rt.plural, &mut created)
                    .map_err(http::ApiError::BadRequest)?;
                let name = created["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
                created = store.put(&rt.store_key(), &ns, &name, created);
            }
        }
        Ok(created)
    }

    fn load(self: &Arc<Self>, s: &Scenario) -> Result<(), LabError> {
        for o in &s.objects {
            if let Some(objs) = scenario::expand_include(o).map_err(|message| LabError::Load {
                scenario: s.name.clone(),
                kind: "Include".into(),
                name: o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                message,
            })? {
                for inc in objs {
                    self.create_object(inc).map_err(|e| LabError::Load {
                        scenario: s.name.clone(),
                        kind: "Include".into(),
                        name: o["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        message: e.to_string(),
                    })?;
                }
                continue;
            }
            self.create_object(o.clone()).map_err(|e| LabError::Load {
                scenario: s.name.clone(),
                kind: o["kind"].as_str().unwrap_or_default().to_string(),
                name: o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}
