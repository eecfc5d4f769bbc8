# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_lbctl_global_optspecs
    string join \n kubeconfig= context= request-timeout= n/namespace= A/all-namespaces o/output= color= v/verbose h/help V/version
end

function __fish_lbctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_lbctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_lbctl_using_subcommand
    set -l cmd (__fish_lbctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c lbctl -n "__fish_lbctl_needs_command" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_needs_command" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_needs_command" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_needs_command" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_needs_command" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_needs_command" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_needs_command" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lbctl -n "__fish_lbctl_needs_command" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "arp-probe" -d 'Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "doctor" -d 'Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all)'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "pools" -d 'List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "policies" -d 'List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "leases" -d 'List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "lab" -d 'The embedded lab: an in-memory Kubernetes API server preloaded with a scenario'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "debug" -d 'Ask a running `lbctl serve` on this host what it does (over its local socket)'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "crds" -d 'Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML: `lbctl crds | kubectl apply -f -` on a cluster without Cilium'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "serve" -d 'Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "man" -d 'Write man pages (one per subcommand) into a directory'
complete -c lbctl -n "__fish_lbctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s i -l interface -d 'Interface to probe on [default: the one the kernel routes IP through]' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s c -l count -d 'Most requests to send' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l interval -d 'Gap between requests, at least 10ms [default: 100ms, or 1s with --watch]' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l timeout -d 'Give up when nobody answered within this time (more than 0)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l dup-window -d 'After the first answer, keep listening this long for a second owner' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l duration -d 'With --watch: stop after this long [default: until interrupted]' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -l watch -d 'Keep probing and listening for gratuitous ARP / unsolicited NA; print every change of owner with a timestamp'
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand arp-probe" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l cilium-namespace -d 'Namespace of the Cilium agent (cilium-config and the L2 leases)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l all -d 'Every LoadBalancer Service (of the namespace, or of the cluster with -A), one row each'
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -l no-probe -d 'Do not probe the VIP with ARP/NDP (rung 4 is then skipped); doctor otherwise probes when this host shares the VIP\'s L2 segment'
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -l cilium-namespace -d 'Namespace of the Cilium agent (cilium-config and the L2 leases)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand pools" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -l cilium-namespace -d 'Namespace of the Cilium agent (cilium-config and the L2 leases)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand policies" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -l cilium-namespace -d 'Namespace of the Cilium agent (cilium-config and the L2 leases)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand leases" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -f -a "up" -d 'Serve the lab API server until Ctrl-C / SIGTERM'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -f -a "scenarios" -d 'List the embedded scenarios'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -f -a "demo" -d 'Tell the article\'s story on an in-process lab: a <pending> Service, doctor, the fixes'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and not __fish_seen_subcommand_from up scenarios demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l listen -d 'Address to listen on; port 0 picks a free port' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l scenario -d 'Scenario to preload: an embedded name (see `lbctl lab scenarios`) or a YAML file. Repeatable' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l kubeconfig-out -d 'Where to write the kubeconfig (default: a file in the temp directory named after the port)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l request-log -d 'Append every request the lab serves to FILE, one JSON object per line (method, path, query, status, user agent): to see exactly what a client does' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l fault -d 'Fail requests on purpose: METHOD:PATH-SUBSTRING:STATUS[:COUNT] (METHOD may be `*`; COUNT defaults to 1), e.g. `PATCH:/status:409:2`. Repeatable' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -l no-engine -d 'Run no engine: by default LB IPAM (`lbctl serve --ipam`) runs in the lab\'s process, so Services get their IPs once a pool exists'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from up" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from scenarios" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -l unattended -d 'Do not wait for Enter between steps (the default when stdin is not a terminal)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -l no-lan -d 'Do not build the namespace LAN even as root (the ARP steps are then skipped)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from demo" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "up" -d 'Serve the lab API server until Ctrl-C / SIGTERM'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "scenarios" -d 'List the embedded scenarios'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "demo" -d 'Tell the article\'s story on an in-process lab: a <pending> Service, doctor, the fixes'
complete -c lbctl -n "__fish_lbctl_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -l debug-socket -d 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -f -a "l2-announce" -d 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -f -a "devices" -d 'Network devices: name, index, MAC, whether selected for announcing and why not'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -f -a "ipam" -d 'The IPAM engine in this process: leadership, pools and their counts'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and not __fish_seen_subcommand_from l2-announce devices ipam help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -l debug-socket -d 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from l2-announce" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -l debug-socket -d 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from devices" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -l debug-socket -d 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from ipam" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from help" -f -a "l2-announce" -d 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from help" -f -a "devices" -d 'Network devices: name, index, MAC, whether selected for announcing and why not'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from help" -f -a "ipam" -d 'The IPAM engine in this process: leadership, pools and their counts'
complete -c lbctl -n "__fish_lbctl_using_subcommand debug; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand crds" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l l2-lease-prefix -d 'Name prefix of the per-Service announcement leases (Cilium\'s, so a mixed or migrating cluster never announces a VIP twice)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l debug-socket -d 'Unix socket for `lbctl debug` (default: /run/lbctl/debug.sock as root)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l node-name -d 'This node\'s name: the lease holder identity (default: $NODE_NAME, then the hostname)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l lease-duration -d 'How long a non-leader waits after the last renew before taking the IPAM lease' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l renew-deadline -d 'How long the leader may fail to renew before it stops writing and answering' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l retry-period -d 'Interval between lease attempts' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l metrics-addr -d 'Where to serve /metrics, /healthz and /readyz (port 0 picks a free port). The address may be bracketed whatever its family (`[$(POD_IP)]:9963` in a manifest); bind the pod\'s own IP, not 0.0.0.0, on a host-network pod' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l field-manager -d 'Field manager of the status patches (use cilium-operator-lb-ipam to pose as Cilium)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l max-requests-in-flight -d 'At most this many API requests in flight at once, per engine (a thousand lease renewals queue instead of opening a thousand connections; kube\'s client speaks HTTP/1.1)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l default-lb-service-ipam -d 'Who serves Services without loadBalancerClass: lbipam (us) or none' -r -f -a "lbipam\t''
none\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l lb-class -d 'loadBalancerClass values served besides none (repeatable)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l ipam -d 'Run LB IPAM: allocate Service IPs from CiliumLoadBalancerIPPools (default on)'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l no-ipam -d 'Do not run LB IPAM'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l announce -d 'Run the L2 announcer: contend for each selected Service\'s lease and answer ARP/NDP for its VIPs while leader (needs CAP_NET_RAW; default off, the DaemonSet turns it on)'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l no-announce -d 'Do not run the L2 announcer (the default)'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -l enable-ipv6 -d 'Hand out IPv6 addresses to Services that ask for no family (Cilium\'s enable-ipv6)'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand serve" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -l out -d 'Output directory' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -l context -d 'The kubeconfig context to use' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -l request-timeout -d 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -s n -l namespace -d 'Namespace to look in (default: the context\'s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)' -r
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -l color -d 'When to colour output (NO_COLOR is honoured in auto mode)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -s A -l all-namespaces -d 'Look in every namespace'
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -s h -l help -d 'Print help'
complete -c lbctl -n "__fish_lbctl_using_subcommand man" -s V -l version -d 'Print version'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "arp-probe" -d 'Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "doctor" -d 'Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all)'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "pools" -d 'List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "policies" -d 'List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "leases" -d 'List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "lab" -d 'The embedded lab: an in-memory Kubernetes API server preloaded with a scenario'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "debug" -d 'Ask a running `lbctl serve` on this host what it does (over its local socket)'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "crds" -d 'Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML: `lbctl crds | kubectl apply -f -` on a cluster without Cilium'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "serve" -d 'Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "man" -d 'Write man pages (one per subcommand) into a directory'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and not __fish_seen_subcommand_from arp-probe doctor pools policies leases lab debug crds serve completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "up" -d 'Serve the lab API server until Ctrl-C / SIGTERM'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "scenarios" -d 'List the embedded scenarios'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "demo" -d 'Tell the article\'s story on an in-process lab: a <pending> Service, doctor, the fixes'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and __fish_seen_subcommand_from debug" -f -a "l2-announce" -d 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and __fish_seen_subcommand_from debug" -f -a "devices" -d 'Network devices: name, index, MAC, whether selected for announcing and why not'
complete -c lbctl -n "__fish_lbctl_using_subcommand help; and __fish_seen_subcommand_from debug" -f -a "ipam" -d 'The IPAM engine in this process: leadership, pools and their counts'
