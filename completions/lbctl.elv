
use builtin;
use str;

set edit:completion:arg-completer[lbctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'lbctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'lbctl'= {
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand arp-probe 'Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder'
            cand doctor 'Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all)'
            cand pools 'List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each'
            cand policies 'List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches'
            cand leases 'List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness'
            cand lab 'The embedded lab: an in-memory Kubernetes API server preloaded with a scenario'
            cand debug 'Ask a running `lbctl serve` on this host what it does (over its local socket)'
            cand crds 'Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML: `lbctl crds | kubectl apply -f -` on a cluster without Cilium'
            cand serve 'Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages (one per subcommand) into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'lbctl;arp-probe'= {
            cand -i 'Interface to probe on [default: the one the kernel routes IP through]'
            cand --interface 'Interface to probe on [default: the one the kernel routes IP through]'
            cand -c 'Most requests to send'
            cand --count 'Most requests to send'
            cand --interval 'Gap between requests, at least 10ms [default: 100ms, or 1s with --watch]'
            cand --timeout 'Give up when nobody answered within this time (more than 0)'
            cand --dup-window 'After the first answer, keep listening this long for a second owner'
            cand --duration 'With --watch: stop after this long [default: until interrupted]'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand --watch 'Keep probing and listening for gratuitous ARP / unsolicited NA; print every change of owner with a timestamp'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;doctor'= {
            cand --cilium-namespace 'Namespace of the Cilium agent (cilium-config and the L2 leases)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand --all 'Every LoadBalancer Service (of the namespace, or of the cluster with -A), one row each'
            cand --no-probe 'Do not probe the VIP with ARP/NDP (rung 4 is then skipped); doctor otherwise probes when this host shares the VIP''s L2 segment'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;pools'= {
            cand --cilium-namespace 'Namespace of the Cilium agent (cilium-config and the L2 leases)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;policies'= {
            cand --cilium-namespace 'Namespace of the Cilium agent (cilium-config and the L2 leases)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;leases'= {
            cand --cilium-namespace 'Namespace of the Cilium agent (cilium-config and the L2 leases)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;lab'= {
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand up 'Serve the lab API server until Ctrl-C / SIGTERM'
            cand scenarios 'List the embedded scenarios'
            cand demo 'Tell the article''s story on an in-process lab: a <pending> Service, doctor, the fixes'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'lbctl;lab;up'= {
            cand --listen 'Address to listen on; port 0 picks a free port'
            cand --scenario 'Scenario to preload: an embedded name (see `lbctl lab scenarios`) or a YAML file. Repeatable'
            cand --kubeconfig-out 'Where to write the kubeconfig (default: a file in the temp directory named after the port)'
            cand --request-log 'Append every request the lab serves to FILE, one JSON object per line (method, path, query, status, user agent): to see exactly what a client does'
            cand --fault 'Fail requests on purpose: METHOD:PATH-SUBSTRING:STATUS[:COUNT] (METHOD may be `*`; COUNT defaults to 1), e.g. `PATCH:/status:409:2`. Repeatable'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand --no-engine 'Run no engine: by default LB IPAM (`lbctl serve --ipam`) runs in the lab''s process, so Services get their IPs once a pool exists'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;lab;scenarios'= {
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;lab;demo'= {
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand --unattended 'Do not wait for Enter between steps (the default when stdin is not a terminal)'
            cand --no-lan 'Do not build the namespace LAN even as root (the ARP steps are then skipped)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;lab;help'= {
            cand up 'Serve the lab API server until Ctrl-C / SIGTERM'
            cand scenarios 'List the embedded scenarios'
            cand demo 'Tell the article''s story on an in-process lab: a <pending> Service, doctor, the fixes'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'lbctl;lab;help;up'= {
        }
        &'lbctl;lab;help;scenarios'= {
        }
        &'lbctl;lab;help;demo'= {
        }
        &'lbctl;lab;help;help'= {
        }
        &'lbctl;debug'= {
            cand --debug-socket 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand l2-announce 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered'
            cand devices 'Network devices: name, index, MAC, whether selected for announcing and why not'
            cand ipam 'The IPAM engine in this process: leadership, pools and their counts'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'lbctl;debug;l2-announce'= {
            cand --debug-socket 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;debug;devices'= {
            cand --debug-socket 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;debug;ipam'= {
            cand --debug-socket 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;debug;help'= {
            cand l2-announce 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered'
            cand devices 'Network devices: name, index, MAC, whether selected for announcing and why not'
            cand ipam 'The IPAM engine in this process: leadership, pools and their counts'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'lbctl;debug;help;l2-announce'= {
        }
        &'lbctl;debug;help;devices'= {
        }
        &'lbctl;debug;help;ipam'= {
        }
        &'lbctl;debug;help;help'= {
        }
        &'lbctl;crds'= {
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;serve'= {
            cand --l2-lease-prefix 'Name prefix of the per-Service announcement leases (Cilium''s, so a mixed or migrating cluster never announces a VIP twice)'
            cand --debug-socket 'Unix socket for `lbctl debug` (default: /run/lbctl/debug.sock as root)'
            cand --node-name 'This node''s name: the lease holder identity (default: $NODE_NAME, then the hostname)'
            cand --lease-duration 'How long a non-leader waits after the last renew before taking the IPAM lease'
            cand --renew-deadline 'How long the leader may fail to renew before it stops writing and answering'
            cand --retry-period 'Interval between lease attempts'
            cand --metrics-addr 'Where to serve /metrics, /healthz and /readyz (port 0 picks a free port). The address may be bracketed whatever its family (`[$(POD_IP)]:9963` in a manifest); bind the pod''s own IP, not 0.0.0.0, on a host-network pod'
            cand --field-manager 'Field manager of the status patches (use cilium-operator-lb-ipam to pose as Cilium)'
            cand --max-requests-in-flight 'At most this many API requests in flight at once, per engine (a thousand lease renewals queue instead of opening a thousand connections; kube''s client speaks HTTP/1.1)'
            cand --default-lb-service-ipam 'Who serves Services without loadBalancerClass: lbipam (us) or none'
            cand --lb-class 'loadBalancerClass values served besides none (repeatable)'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand --ipam 'Run LB IPAM: allocate Service IPs from CiliumLoadBalancerIPPools (default on)'
            cand --no-ipam 'Do not run LB IPAM'
            cand --announce 'Run the L2 announcer: contend for each selected Service''s lease and answer ARP/NDP for its VIPs while leader (needs CAP_NET_RAW; default off, the DaemonSet turns it on)'
            cand --no-announce 'Do not run the L2 announcer (the default)'
            cand --enable-ipv6 'Hand out IPv6 addresses to Services that ask for no family (Cilium''s enable-ipv6)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;completions'= {
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;man'= {
            cand --out 'Output directory'
            cand --kubeconfig 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)'
            cand --context 'The kubeconfig context to use'
            cand --request-timeout 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting'
            cand -n 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand --namespace 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --color 'When to colour output (NO_COLOR is honoured in auto mode)'
            cand -A 'Look in every namespace'
            cand --all-namespaces 'Look in every namespace'
            cand -v 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output on stderr (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'lbctl;help'= {
            cand arp-probe 'Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder'
            cand doctor 'Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all)'
            cand pools 'List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each'
            cand policies 'List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches'
            cand leases 'List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness'
            cand lab 'The embedded lab: an in-memory Kubernetes API server preloaded with a scenario'
            cand debug 'Ask a running `lbctl serve` on this host what it does (over its local socket)'
            cand crds 'Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML: `lbctl crds | kubectl apply -f -` on a cluster without Cilium'
            cand serve 'Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages (one per subcommand) into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'lbctl;help;arp-probe'= {
        }
        &'lbctl;help;doctor'= {
        }
        &'lbctl;help;pools'= {
        }
        &'lbctl;help;policies'= {
        }
        &'lbctl;help;leases'= {
        }
        &'lbctl;help;lab'= {
            cand up 'Serve the lab API server until Ctrl-C / SIGTERM'
            cand scenarios 'List the embedded scenarios'
            cand demo 'Tell the article''s story on an in-process lab: a <pending> Service, doctor, the fixes'
        }
        &'lbctl;help;lab;up'= {
        }
        &'lbctl;help;lab;scenarios'= {
        }
        &'lbctl;help;lab;demo'= {
        }
        &'lbctl;help;debug'= {
            cand l2-announce 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered'
            cand devices 'Network devices: name, index, MAC, whether selected for announcing and why not'
            cand ipam 'The IPAM engine in this process: leadership, pools and their counts'
        }
        &'lbctl;help;debug;l2-announce'= {
        }
        &'lbctl;help;debug;devices'= {
        }
        &'lbctl;help;debug;ipam'= {
        }
        &'lbctl;help;crds'= {
        }
        &'lbctl;help;serve'= {
        }
        &'lbctl;help;completions'= {
        }
        &'lbctl;help;man'= {
        }
        &'lbctl;help;help'= {
        }
    ]
    $completions[$command]
}
