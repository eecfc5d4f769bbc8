//! Kubernetes client setup from kubectl-style flags, and the mapping of API failures to exit codes.

use std::path::PathBuf;

use crate::output::CodedError;

/// Where to find the cluster: kubectl's `--kubeconfig` and `--context`.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
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
                let cfg = kube::Config::from_kubeconfig(&opts).await.or_else(|kerr| {
                    kube::Config::incluster().map_err(|_| {
                        CodedError::usage(format!(
                            "no usable kubeconfig ({kerr}); pass --kubeconfig FILE or set KUBECONFIG (try `lbctl lab up` for a local lab)"
                        ))
                    })
                })?;
                (cfg, ctx)
            }
        };
        let default_namespace = config.default_namespace.clone();
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
