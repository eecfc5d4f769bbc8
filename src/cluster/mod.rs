//! Kubernetes client setup from kubectl-style flags, and the mapping of API failures to exit codes.

use std::path::PathBuf;
use std::time::Duration;

use crate::output::CodedError;

/// The server-side timeout kube-rs' watchers ask for by default (the API server's own default
/// is 30-60 min; kube-rs picks 290 s), plus kube-rs' idle margin and some slack.
const DEFAULT_WATCH_READ_TIMEOUT: Duration = Duration::from_secs(290 + 30);

/// Where to find the cluster: kubectl's `--kubeconfig`, `--context` and `--request-timeout`.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Bound on connecting, writing, and each wait for a response byte; `None` waits forever
    /// (kubectl's `--request-timeout 0`).
    pub request_timeout: Option<Duration>,
}

impl Target {
    /// The cluster the global flags select (`--request-timeout 0` waits forever).
    pub fn from_args(g: &crate::cli::GlobalArgs) -> Target {
        Target {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            request_timeout: (!g.request_timeout.is_zero()).then_some(g.request_timeout),
        }
    }
}

/// What a watch asks the server for (`timeoutSeconds`) so that a quiet but healthy watch ends
/// on the server's side well before `read_timeout` declares the connection dead: half of it,
/// at least a second. `None` (no read timeout) keeps the client library's default.
pub fn watch_timeout_secs(read_timeout: Option<Duration>) -> Option<u32> {
    read_timeout.map(|t| u32::try_from((t / 2).as_secs()).unwrap_or(u32::MAX).max(1))
}

/// How a client is built besides the target.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientOptions {
    /// At most this many requests outstanding at once (see [`Target::connect_limited`]).
    pub max_in_flight: Option<usize>,
    /// The client serves watchers that keep kube-rs' default server-side timeout (290 s): the
    /// read timeout must then outlast it, or every quiet watch would be cut as dead.
    pub long_watches: bool,
}

/// A connected client plus what the user needs to know in error messages.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// The context name as kubectl would show it (or "in-cluster").
    pub context: String,
    /// The namespace the context selects (kubectl's default for `-n`).
    pub default_namespace: String,
}

impl Target {
    /// Builds a client the way kubectl does: explicit `--kubeconfig`, else `$KUBECONFIG`, else
    /// `~/.kube/config`, else the in-cluster service account.
    pub async fn connect(&self) -> Result<Connection, CodedError> {
        self.connect_limited(None).await
    }

    /// As [`Target::connect`], with at most `max_in_flight` requests outstanding at once (watch
    /// streams count only until their headers arrive). kube speaks HTTP/1.1, one request per
    /// connection, so without a bound a daemon renewing a thousand leases in one burst opens a
    /// thousand connections to the API server; client-go multiplexes them over one HTTP/2
    /// connection instead. Callers beyond the bound queue in order.
    pub async fn connect_limited(
        &self,
        max_in_flight: Option<usize>,
    ) -> Result<Connection, CodedError> {
        self.connect_with(ClientOptions {
            max_in_flight,
            ..ClientOptions::default()
        })
        .await
    }

    /// The read timeout clients built with `opts` get.
    pub fn read_timeout(&self, opts: ClientOptions) -> Option<Duration> {
        match self.request_timeout {
            Some(t) if opts.long_watches => Some(t.max(DEFAULT_WATCH_READ_TIMEOUT)),
            t => t,
        }
    }

    /// Builds a client with connect, write and read timeouts: without them a peer that keeps
    /// the TCP connection open but never answers (a hung proxy, a frozen API server) stalls a
    /// request forever, and with it `doctor` or the IPAM loop.
    pub async fn connect_with(&self, client: ClientOptions) -> Result<Connection, CodedError> {
        let max_in_flight = client.max_in_flight;
        let opts = kube::config::KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let (config, context) = match &self.kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    CodedError::usage(format!("cannot read kubeconfig {}: {e}", path.display()))
                })?;
                let ctx = self
                    .context
                    .clone()
                    .or_else(|| kc.current_context.clone())
                    .unwrap_or_default();
                let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| {
                        CodedError::usage(format!("kubeconfig {}: {e}", path.display()))
                    })?;
                (cfg, ctx)
            }
            None => {
                let ctx = kube::config::Kubeconfig::read()
                    .ok()
                    .and_then(|kc| self.context.clone().or(kc.current_context))
                    .unwrap_or_else(|| "in-cluster".into());
                let env = std::env::var_os("KUBECONFIG");
                let cfg = kube::Config::from_kubeconfig(&opts).await.or_else(|kerr| {
                    kube::Config::incluster().map_err(|_| {
                        CodedError::usage(match env.as_deref().and_then(missing_kubeconfig) {
                            Some(missing) => missing,
                            None => format!(
                                "no usable kubeconfig ({kerr}); pass --kubeconfig FILE or set KUBECONFIG (try `lbctl lab up` for a local lab)"
                            ),
                        })
                    })
                })?;
                (cfg, ctx)
            }
        };
        let default_namespace = config.default_namespace.clone();
        let mut config = config;
        config.connect_timeout = self.request_timeout;
        config.write_timeout = self.request_timeout;
        config.read_timeout = self.read_timeout(client);
        // Count from when a request is sent, not from when its pooled connection went idle.
        config.reset_reader_on_write = true;
        let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| {
            CodedError::unreachable(format!(
                "cannot build a client for context {context:?}: {e}"
            ))
        })?;
        let client = match max_in_flight {
            Some(n) => builder
                .with_layer(&tower::limit::ConcurrencyLimitLayer::new(n.max(1)))
                .build(),
            None => builder.build(),
        };
        Ok(Connection {
            client,
            context,
            default_namespace,
        })
    }
}

/// When `$KUBECONFIG` is set but names no file that exists, the error to give: that file is
/// missing (often the kubeconfig of a lab that has stopped and removed it), not that
/// KUBECONFIG should be set.
fn missing_kubeconfig(env: &std::ffi::OsStr) -> Option<String> {
    let paths: Vec<PathBuf> = std::env::split_paths(env)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if paths.is_empty() || paths.iter().any(|p| p.exists()) {
        return None;
    }
    let list = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "KUBECONFIG names {list}, which does not exist (a stopped `lbctl lab up` removes its kubeconfig: \
start it again and use the KUBECONFIG it prints, or pass --kubeconfig FILE)"
    ))
}

impl Connection {
    /// Turns an API error into the right exit code, naming the context and what was asked for.
    pub fn explain(&self, what: &str, err: kube::Error) -> CodedError {
        match &err {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => {
                CodedError::unreachable(format!(
                    "context {:?}: not allowed to {what}: {} (check your RBAC: kubectl auth can-i)",
                    self.context, s.message
                ))
            }
            // The server is there but cannot serve (overloaded, etcd down, a proxy's 502):
            // as unreachable as no answer at all, not a finding about the Service.
            kube::Error::Api(s) if s.code >= 500 || s.code == 429 => {
                CodedError::unreachable(format!(
                    "context {:?}: the API server failed to {what}: {} ({})",
                    self.context, s.message, s.code
                ))
            }
            kube::Error::Api(s) => CodedError {
                code: crate::output::Exit::Problem,
                message: format!(
                    "context {:?}: {what}: {} ({})",
                    self.context, s.message, s.code
                ),
            },
            _ => CodedError::unreachable(format!(
                "context {:?}: cannot reach the API server to {what}: {err}",
                self.context
            )),
        }
    }
}
