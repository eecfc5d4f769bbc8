//! The lab against the kube crate: watches, concurrency, status subresource, generation, selectors.
